"""The settings of a run: one small dataclass per section, every field with its default and why.

    cfg = RunConfig()                 # the defaults; `tweetsent.config.resolve` layers presets and overrides on them
    cfg.train.lr, cfg.to_dict()       # what is saved with the run and inside the checkpoint

The choice lists (activations, losses, optimizers, tokenizers, poolings, input parts) live here,
at the bottom of the package, so the modules that implement them import them from here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

__all__ = [
    "DataConfig", "FeaturesConfig", "ModelConfig", "TrainConfig", "FinetuneConfig", "EnsembleConfig",
    "DistillConfig", "RunConfig", "SECTIONS", "ACTIVATIONS", "LOSSES", "UNFIT_LOSSES", "OPTIMIZERS", "INPUT_PARTS",
    "TOKENIZERS", "POOLINGS", "EMPTY_CHOICES", "DEVICES", "input_parts",
]

ACTIVATIONS = ("relu", "sigmoid", "logsigmoid", "tanh", "prelu", "celu", "selu")
LOSSES = ("cross_entropy", "nll", "multi_margin")
# Losses people reach for that do not fit single-label classification, and why.
UNFIT_LOSSES = {
    "mse": "it regresses numbers, not classes",
    "l1": "it regresses numbers, not classes",
    "smooth_l1": "it regresses numbers, not classes",
    "huber": "it regresses numbers, not classes",
    "bce": "it scores each class on its own (multi-label), not one class per tweet",
    "bce_with_logits": "it scores each class on its own (multi-label), not one class per tweet",
    "kl_div": "it compares two distributions and needs soft targets, not labels",
    "ctc": "it aligns sequences, not single labels",
}
OPTIMIZERS = ("sgd", "adam", "adamw", "adamax", "rmsprop", "radam", "nadam", "adagrad", "adadelta")
INPUT_PARTS = ("embeddings", "ngrams", "minilm")  # features.input joins one or more with "+"
TOKENIZERS = ("tweet", "whitespace")  # tweetsent.data.text implements each
POOLINGS = ("mean", "max", "mean+max", "tfidf", "sif")  # tweetsent.features.pooling implements each
DEVICES = r"auto|cpu|cuda(:\d+)?"  # train.device, as a regular expression: auto, cpu, cuda or cuda:N (tweetsent.training.device)
# Tweets read, tokenised and labelled at a time (`tweetsent predict --chunk-size`). seed-softmax on
# 1,000,000 tweets, 2 cores: 16,384 peaked at 455 MiB, 24,576 at 473-475, 30,000 at 476-488, at about
# the same speed (on one core 30,000 was ~5% quicker: the tokenizer's fixed cost per call spreads wider).
CHUNK_SIZE = 16_384
EMPTY_CHOICES = ("error", "drop")  # data.empty: refuse a file with empty tweets, or leave those rows out


def input_parts(value: str) -> tuple[str, ...]:
    """The parts of a ``features.input`` value: "embeddings+minilm" -> ("embeddings", "minilm")."""
    return tuple(part.strip() for part in value.split("+"))


@dataclass
class DataConfig:
    text_column: str = ""  # "" finds it: the first of tweet, text, content, sentence
    label_column: str = "label"  # the column holding the class of each tweet
    empty: str = "error"  # a labelled row whose tweet is empty: "error" names the lines, "drop" leaves them out (counted)
    label_names: dict[str, str] = field(default_factory=dict)  # {label value as text: class name}, e.g. {"1": "anti-vax"}; shown by every table, figure and answer


@dataclass
class FeaturesConfig:
    input: str = "embeddings"  # "+"-joined parts: embeddings (pooled word vectors), ngrams (hashed n-grams), minilm (sentence vectors)
    embeddings: str = "glove-6b-50d"  # bundled table, or a GloVe / word2vec text file (.txt, .gz, .zip:member)
    tokenizer: str = "tweet"  # "tweet" (tweet-aware, for GloVe 6B) or "whitespace" (the study's: lower + split)
    pooling: str = "mean"  # mean (the study's), max, mean+max (2*dim), tfidf (IDF-weighted mean) or sif; zeros when no word is known
    sif_a: float = 1e-3  # sif pooling: a word weighs a / (a + p(word)), p its frequency in the training tweets
    sif_remove_pc: bool = True  # sif pooling: remove the first principal component of the training tweets' vectors
    punctuation: bool = False  # average punctuation/symbol-only tokens too (the study's split never isolates them)
    word_ngrams: list[int] = field(default_factory=lambda: [1, 2])  # hashed word n-gram sizes, [min, max]; [0, 0] for none
    char_ngrams: list[int] = field(default_factory=lambda: [0, 0])  # hashed character n-grams within words, e.g. [2, 5]
    n_features: int = 262144  # hash buckets (2**18); the first layer has this many inputs
    tfidf: bool = False  # weight n-gram counts by inverse document frequency (learned on the training set)
    minilm_max_length: int = 128  # minilm input: wordpieces per tweet (longer ones are truncated); part of the cache key


@dataclass
class ModelConfig:
    kind: str = "network"  # "network" (feed-forward), "softmax" (no hidden layers), "finetune" (MiniLM end to end, [finetune]) or "ensemble" ([ensemble])
    hidden: list[int] = field(default_factory=lambda: [256, 128, 64, 32])  # widths of the hidden layers
    activation: str | list[str] = "relu"  # one for every layer, or a list with one per layer
    last_sigmoid: bool = False  # sigmoid on the last hidden layer instead (an option the study tried)
    batch_norm: bool = False  # BatchNorm1d after each hidden linear layer
    dropout: float | list[float] = 0.0  # after each hidden layer: one rate, or one per layer (the study's decrease with depth)


@dataclass
class TrainConfig:
    loss: str = "cross_entropy"  # cross_entropy, nll (on log-softmax outputs) or multi_margin
    optimizer: str = "adam"  # sgd, adam, adamw, adamax, rmsprop, radam, nadam, adagrad, adadelta
    lr: float = 1e-3  # learning rate
    momentum: float = 0.0  # sgd and rmsprop only
    weight_decay: float = 0.0  # L2 penalty, every optimizer
    batch_size: int = 64  # tweets per gradient step
    epochs: int = 50  # passes over the training set (an upper bound with early stopping)
    shuffle: bool = True  # reshuffle the training set every epoch
    seed: int = 0  # same seed, same numbers
    class_weight: str | list[float] = "none"  # "none", "balanced" (inverse class frequency), or one weight per class
    early_stopping: bool = False  # stop when validation loss stops falling; the best epoch is restored
    patience: int = 5  # epochs without a new best validation loss before stopping
    threads: int = 1  # torch CPU threads; one is fastest for networks this small, and never oversubscribes
    device: str = "auto"  # "auto" (a CUDA GPU when torch sees one, else the CPU), "cpu", "cuda" or "cuda:N"; where training and prediction run
    time_budget: float = 0.0  # seconds of training at most (0: none); a network stops before an epoch that would not fit, fine-tuning mid-epoch
    holdout: float = 0.1  # share of the training file held out (stratified, seeded) when calibration or thresholds are on
    calibration: str = "none"  # "temperature": scale the scores by a temperature fitted on the holdout; or "none"
    thresholds: str = "none"  # "tuned": per-class weights on the probabilities maximising holdout macro F1; or "none"


@dataclass
class FinetuneConfig:
    """all-MiniLM-L6-v2 fine-tuned end to end (model.kind = "finetune"); train.lr/optimizer/batch_size/epochs do not apply."""

    lr: float = 1e-4  # AdamW peak learning rate: 1e-4 beat 5e-5 (the BERT default) for MiniLM-L6 on the holdout; 1e-3 forgets the pre-training
    weight_decay: float = 0.01  # AdamW decoupled weight decay
    batch_size: int = 32  # tweets per step
    epochs: int = 3  # passes over the training set (an upper bound with early stopping or a time budget)
    warmup: float = 0.1  # share of the steps with a linear warm-up; then linear decay to zero
    dropout: float = 0.1  # before the linear head
    max_length: int = 64  # wordpieces per tweet; longer ones are truncated
    normalize: bool = False  # decode HTML entities and make each link "http" before tokenizing (a t.co link is ~15 wordpieces)
    threads: int = 0  # torch CPU threads; 0 = every core (a transformer uses them well)
    precision: str = "fp32"  # "bf16": bfloat16 autocast, weights kept in fp32 (~1.7x faster where the CPU has AVX-512 BF16 or AMX); "auto": bf16 where supported


@dataclass
class EnsembleConfig:
    """model.kind = "ensemble": train each member config on the same data and average their probabilities.

    Only ``data`` and ``train.seed`` of the ensemble's own config reach the members; everything
    else comes from each member's preset or file. A member listed twice trains twice, the second
    time with seed + 1.
    """

    members: list[str] = field(default_factory=list)  # two or more preset names or TOML files (not ensembles); a repeat gets the next seed
    weights: list[float] = field(default_factory=list)  # one non-negative weight per member; [] = equal


@dataclass
class DistillConfig:
    """Knowledge distillation: a network or softmax model also learns a teacher's probabilities.

    The loss is cross-entropy against ``alpha`` x the true label + (1 - alpha) x the teacher's
    (temperature-scaled) probabilities on each training tweet. A preset or TOML teacher is trained
    first, in the same run, on the same tweets with the same seed and holdout.
    """

    teacher: str = ""  # a preset name, a TOML file, or a run directory / model folder; "" = no distillation
    alpha: float = 0.5  # weight of the true labels; 1 - alpha goes to the teacher's probabilities


@dataclass
class RunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    features: FeaturesConfig = field(default_factory=FeaturesConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    ensemble: EnsembleConfig = field(default_factory=EnsembleConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    name: str = ""  # a label for the run; the preset's name when one is used

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_toml(self) -> str:
        import tomli_w

        return tomli_w.dumps(self.to_dict())


SECTIONS = {"data": DataConfig, "features": FeaturesConfig, "model": ModelConfig, "train": TrainConfig,
             "finetune": FinetuneConfig, "ensemble": EnsembleConfig, "distill": DistillConfig}


