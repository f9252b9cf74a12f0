"""What a model reads: word vectors and their pooling, hashed n-grams, MiniLM sentence vectors, and the
featuriser that joins them.

    from tweetsent.features.featurizer import build_featurizer
"""

__all__: list[str] = []
