"""Reading labelled and unlabelled tables of tweets, downloading datasets, and the tweet tokenizer.

    from tweetsent.data.tables import read_dataset
    train = read_dataset("vaccine_train_set.csv")
"""

__all__: list[str] = []
