"""PromptSpell: the P-tuning continuous-prompt encoder (``--continuous-prompt``).

``spell_length`` learned vectors, optionally re-encoded by a 2-layer bidirectional LSTM followed
by an MLP (``lstm``), or by an MLP alone (``mlp``), or used raw (``none``). The output
``[1, spell_length, h]`` overwrites the word embeddings at the prompt positions. Replicated on
every tensor-parallel rank.
"""

import torch
from torch import nn


class PromptSpell(nn.Module):
    def __init__(self, spell_length: int, hidden_size: int, spell_func: str = "lstm"):
        super().__init__()
        self.spell_length, self.spell_func = spell_length, spell_func
        self.spell_embeddings = nn.Embedding(spell_length, hidden_size)
        h = hidden_size
        if spell_func == "lstm":
            self.lstm_head = nn.LSTM(h, h, num_layers=2, bidirectional=True, batch_first=True)
            self.mlp_head = nn.Sequential(nn.Linear(2 * h, h), nn.ReLU(), nn.Linear(h, h))
        elif spell_func == "mlp":
            self.mlp_head = nn.Sequential(nn.Linear(h, h), nn.ReLU(), nn.Linear(h, h))

    def forward(self) -> torch.Tensor:
        embeddings = self.spell_embeddings.weight.unsqueeze(0)  # (1, S, h)
        if self.spell_func == "lstm":
            embeddings = self.mlp_head(self.lstm_head(embeddings)[0])
        elif self.spell_func == "mlp":
            embeddings = self.mlp_head(embeddings)
        return embeddings

    @torch.no_grad()
    def init_embedding(
        self,
        word_embeddings: torch.Tensor,
        task_tokens: list[int] | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        """``--prompt-init``: start each prompt vector from random word rows (ids < 5000), mixed
        with a random verbalizer token's row when ``task_tokens`` are given."""
        limit = min(5000, word_embeddings.shape[0])
        for row in range(self.spell_length):
            token = int(torch.randint(limit, (1,), generator=generator))
            vector = word_embeddings[token]
            if task_tokens:
                pick = task_tokens[int(torch.randint(len(task_tokens), (1,), generator=generator))]
                ratio = float(torch.rand((), generator=generator))
                vector = ratio * vector + (1 - ratio) * word_embeddings[pick]
            self.spell_embeddings.weight[row] = vector
