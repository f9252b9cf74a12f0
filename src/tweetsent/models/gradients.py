"""Integrated gradients for the fine-tuned encoder: each word's share of each class's probability.

    contributions, deltas = integrated_gradients(clf, texts, words, n_steps=50)   # clf: model.kind "finetune"

Integrated gradients (Sundararajan et al. 2017) on the encoder's input word embeddings, with
Captum's `LayerIntegratedGradients`. The path runs from a reference tweet, where every word's
wordpieces are ``[PAD]`` ([CLS], [SEP] and the positions kept), to the tweet itself: on 30
vaccine tweets ``[PAD]`` made the top words matter more than ``[MASK]`` did, and than ``[UNK]``
at two k of three (BENCHMARKS.md). The function attributed is the estimator's probability of
each class (temperature and tuned thresholds included), so a word's contribution is in the same
unit as occlusion's: probability. Wordpiece attributions (summed over the 384 embedding
dimensions) are summed per word, the whitespace-separated words `tweetsent.models.explain`
segments the tweet into. Completeness: a tweet's contributions to class c add up to
``p_c(tweet) - p_c(reference)``, up to the Gauss-Legendre quadrature's error, which Captum
returns as the convergence delta. The probabilities sum to 1 all along the path, so the last
class's attributions are minus the sum of the others' (exactly, and a third fewer passes for
three classes). Computed in float32 (no bf16 autocast), in eval mode, on the model's device, one
tweet at a time: one batch of ``(n_classes - 1) * n_steps`` forward and backward passes. Needs
Captum: ``pip install 'tweetsent[explain]'``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from tweetsent.data.text import normalize_for_encoder
from tweetsent.errors import ModelError
from tweetsent.models.finetune import _threads
from tweetsent.training.device import module_device

__all__ = ["integrated_gradients", "N_STEPS"]

N_STEPS = 50  # Gauss-Legendre points: mean |delta| 6e-4 (max 9e-3) of a probability on vaccine tweets; 1e-2 at 20
_INSTALL = "pip install 'tweetsent[explain]'"


def _captum():
    try:
        from captum.attr import LayerIntegratedGradients
    except ImportError as exc:
        raise ModelError(f"integrated gradients need the optional package captum ({exc.name} is missing); install "
                         f"it with: {_INSTALL}, or explain by occlusion (method \"occlusion\", --method occlusion)") from exc
    return LayerIntegratedGradients


def _probability(clf):
    """The estimator's ``predict_proba`` as a differentiable function of (input_ids, attention_mask): (b, n_classes)."""
    net, temperature = clf.model_.net_, clf.temperature_ or 1.0
    # apply_thresholds' renormalised p * w is softmax(z + log w)
    weights = None if clf.thresholds_ is None else torch.tensor(clf.thresholds_, device=module_device(net))
    shift = None if weights is None else torch.log(weights.clamp_min(1e-30))

    def forward(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        z = net(input_ids, attention_mask) / temperature  # (b, n_classes)
        return torch.softmax(z if shift is None else z + shift, dim=1)

    return forward


def integrated_gradients(clf, texts: Sequence[str], words: Sequence[Sequence[tuple[str, int, int]]],
                         n_steps: int = N_STEPS) -> tuple[list[np.ndarray], np.ndarray]:
    """Each word's integrated gradient for every class's probability, and the quadrature's error.

    Parameters
    ----------
    clf : TweetClassifier
        Fitted, ``model.kind = "finetune"``.
    texts : sequence of str
        The tweets.
    words : sequence of list of (str, int, int)
        Each tweet's words with their character spans (`tweetsent.models.explain.segment` with
        `WORDS`); words past ``finetune.max_length`` wordpieces get 0.
    n_steps : int
        Points on the path from the reference to the tweet.

    Returns
    -------
    contributions : list of ndarray
        Per tweet, (n_words, n_classes) float64: each word's share of ``p_c(tweet) - p_c(reference)``.
    deltas : ndarray
        (n_tweets, n_classes): the sum of the contributions minus ``p_c(tweet) - p_c(reference)``.
    """
    if n_steps < 1:
        raise ModelError(f"n_steps = {n_steps}: integrated gradients need at least 1 step on the path (default {N_STEPS})")
    LayerIntegratedGradients = _captum()
    ft, net, tokenizer = clf.config_.finetune, clf.model_.net_, clf.model_.tokenizer_
    n_classes, device = len(clf.classes_), module_device(net)
    lig = LayerIntegratedGradients(_probability(clf), net.encoder.embeddings.word_embeddings)
    targets = list(range(n_classes - 1))  # the last class is minus their sum
    contributions, deltas = [], []
    was_training = net.training
    net.eval()
    try:
        with _threads(ft.threads), torch.enable_grad():
            for tweet in words:
                pieces = [w for w, _, _ in tweet]
                # Words one by one: the same wordpieces as the whole text, each knowing its word.
                encoded = tokenizer(normalize_for_encoder(pieces) if ft.normalize else pieces, is_split_into_words=True,
                                    truncation=True, max_length=ft.max_length)
                word_of = np.array([-1 if w is None else w for w in encoded.word_ids()])  # (seq,)
                ids = torch.tensor([encoded["input_ids"]]).repeat(len(targets), 1)  # one row per class: (C - 1, seq)
                reference = ids.clone()
                reference[:, torch.from_numpy(word_of >= 0)] = tokenizer.pad_token_id
                ids, reference = ids.to(device), reference.to(device)  # where the model is
                attributions, delta = lig.attribute(ids, baselines=reference, target=targets,
                                                    additional_forward_args=(torch.ones_like(ids),),
                                                    n_steps=n_steps, return_convergence_delta=True)
                per_piece = attributions.sum(dim=-1).detach().cpu().double().numpy()  # (C - 1, seq)
                per_piece = np.vstack([per_piece, -per_piece.sum(axis=0)])  # (C, seq)
                share = np.zeros((len(tweet), n_classes))
                for position in np.flatnonzero(word_of >= 0):
                    share[word_of[position]] += per_piece[:, position]
                contributions.append(share)
                delta = delta.detach().cpu().double().numpy()
                deltas.append(np.append(delta, -delta.sum()))
    finally:
        net.train(was_training)
    return contributions, np.array(deltas).reshape(len(contributions), n_classes)
