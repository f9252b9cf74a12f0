"""A scalar reverse-mode autograd engine for teaching backpropagation (after karpathy's micrograd).

    x = Value(2.0, label="x"); o = (x * 3 - 1).relu() ** 2; o.backward(); x.grad  # 30.0

Every node keeps its inputs (``children``) and the local gradient of itself with respect to
each of them (``local_grads``), so a table can show what flows along every edge.

The relu subgradient at exactly 0 is 0, the same choice as ``torch.relu``, so gradients match
PyTorch everywhere, including at the kink.
"""

import math

__all__ = ["Value"]


class Value:
    """One scalar in a computation graph, with the gradient of the final output with respect to it.

    Parameters
    ----------
    data : float
        The forward value.
    children : tuple of Value, default ()
        The inputs this node was computed from (empty for a leaf).
    op : str, default ""
        The operation that produced it: ``+ - * / ** neg relu tanh sigmoid exp log``.
    label : str, default ""
        A name for tables and graphs (``"x"``, ``"z"``); empty means unnamed.
    local_grads : tuple of float, default ()
        d(this node)/d(child) for each child, in the order of ``children``.
    """

    def __init__(self, data, children=(), op="", label="", local_grads=()):
        self.data = float(data)
        self.grad = 0.0
        self.children = tuple(children)
        self.op = op
        self.label = label
        self.local_grads = tuple(float(g) for g in local_grads)
        self.exponent = None  # the number k of a ``**`` node, kept so the node can be replayed

    def __repr__(self):
        name = f"{self.label}=" if self.label else ""
        return f"Value({name}{self.data!r}, grad={self.grad!r})"

    # -- binary operations -------------------------------------------------------------------

    def __add__(self, other):
        other = _lift(other)
        return Value(self.data + other.data, (self, other), "+", local_grads=(1.0, 1.0))

    def __sub__(self, other):
        other = _lift(other)
        return Value(self.data - other.data, (self, other), "-", local_grads=(1.0, -1.0))

    def __mul__(self, other):
        other = _lift(other)
        return Value(self.data * other.data, (self, other), "*", local_grads=(other.data, self.data))

    def __truediv__(self, other):
        other = _lift(other)
        if other.data == 0.0:
            raise ZeroDivisionError(f"division by zero: {self.data!r} / 0{_name(other)}")
        q = self.data / other.data
        return Value(q, (self, other), "/", local_grads=(1.0 / other.data, -q / other.data))

    def __pow__(self, k):
        if isinstance(k, Value) or not isinstance(k, (int, float)):
            raise TypeError("only a number exponent is supported: x ** 2, not x ** y")
        k = float(k)
        if self.data == 0.0 and k < 1.0 and k != 0.0:
            # d/dx x**k = k x**(k-1) is infinite at 0 for k < 1 (and x**k itself for k < 0)
            raise ZeroDivisionError(f"0 ** {k!r} has no finite gradient{_name(self)}")
        if self.data < 0.0 and not k.is_integer():
            raise ValueError(f"negative base {self.data!r} ** {k!r} is not a real number")
        try:
            local = 0.0 if k == 0.0 else k * self.data ** (k - 1.0)  # x**0 is constant, even at 0
            out = Value(self.data**k, (self,), "**", local_grads=(local,))
        except OverflowError as exc:
            raise OverflowError(f"{self.data!r} ** {k!r} overflows a float") from exc
        out.exponent = k
        return out

    def __neg__(self):
        return Value(-self.data, (self,), "neg", local_grads=(-1.0,))

    def __radd__(self, other):
        return _lift(other) + self

    def __rsub__(self, other):
        return _lift(other) - self

    def __rmul__(self, other):
        return _lift(other) * self

    def __rtruediv__(self, other):
        return _lift(other) / self

    # -- functions ---------------------------------------------------------------------------

    def relu(self):
        """max(0, x); its gradient at exactly 0 is 0, as in ``torch.relu``."""
        on = self.data > 0.0
        return Value(self.data if on else 0.0, (self,), "relu", local_grads=(1.0 if on else 0.0,))

    def tanh(self):
        t = math.tanh(self.data)
        return Value(t, (self,), "tanh", local_grads=(1.0 - t * t,))

    def sigmoid(self):
        # the two branches keep exp() from overflowing for large |x|
        if self.data >= 0.0:
            s = 1.0 / (1.0 + math.exp(-self.data))
        else:
            e = math.exp(self.data)
            s = e / (1.0 + e)
        return Value(s, (self,), "sigmoid", local_grads=(s * (1.0 - s),))

    def exp(self):
        try:
            e = math.exp(self.data)
        except OverflowError as exc:
            raise OverflowError(f"exp({self.data!r}) overflows a float{_name(self)}") from exc
        return Value(e, (self,), "exp", local_grads=(e,))

    def log(self):
        if self.data <= 0.0:
            raise ValueError(f"log of a non-positive value: log({self.data!r}){_name(self)}")
        return Value(math.log(self.data), (self,), "log", local_grads=(1.0 / self.data,))

    # -- backward ----------------------------------------------------------------------------

    def topo(self):
        """Every node this one depends on, inputs first and ``self`` last.

        Returns
        -------
        list of Value
            The graph in topological (forward) order, each node once.
        """
        order, seen, stack = [], set(), [(self, False)]
        # iterative, so deep expressions cannot hit Python's recursion limit
        while stack:
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
            elif id(node) not in seen:
                seen.add(id(node))
                stack.append((node, True))
                stack.extend((c, False) for c in reversed(node.children) if id(c) not in seen)
        return order

    def backward(self):
        """Set ``.grad`` of every node in the graph to d(self)/d(node).

        Gradients are recomputed from zero on each call rather than accumulated, so calling
        it twice gives the same answer.
        """
        order = self.topo()
        for node in order:
            node.grad = 0.0
        self.grad = 1.0
        for node in reversed(order):
            for child, local in zip(node.children, node.local_grads):
                # a node used twice receives the sum of what both uses send back
                child.grad += node.grad * local


def _lift(x):
    return x if isinstance(x, Value) else Value(x)


def _name(v):
    # only named nodes add anything to a message; the parser adds the column itself
    return f" (node {v.label!r})" if v.label else ""
