"""The backpropagation lesson: a tiny scalar autograd engine, a safe expression parser, and the study's
graph worked node by node. Apart from the library: nothing else imports it but the command line.

    from tweetsent.backprop.autograd import Value
"""

__all__: list[str] = []
