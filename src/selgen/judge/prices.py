"""What a judge's tokens cost: a price table of the judge models the configs use, updateable in config.

:data:`PRICES` holds OpenAI's standard (online) prices in USD per million tokens, as published on
https://openai.com/api/pricing (checked 2025-06; they change: override them with the judge config's
``prices: {model: {input: USD/Mtok, output: USD/Mtok}}``, or ``price_input_per_mtok`` /
``price_output_per_mtok`` for the configured ``model``). The Batch API costs ``batch_price_factor`` (0.5) of
these. A dated snapshot (``gpt-4.1-nano-2025-04-14``) without its own entry takes its alias's price
(``gpt-4.1-nano``). A model not in the table (a local ``vllm serve`` judge) has no price: its cost is None,
never a made-up number.
"""

from __future__ import annotations

import re

# model: (input, output) in USD per million tokens
PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o": (2.50, 10.00),  # Betley et al.'s judge: gpt-4o-2024-08-06
    "gpt-4o-2024-08-06": (2.50, 10.00),
    "gpt-4o-2024-05-13": (5.00, 15.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),  # the seed's and the authors' question files' judge (2025-04-14)
    "o4-mini": (1.10, 4.40),
}

_SNAPSHOT = re.compile(r"-\d{4}-\d{2}-\d{2}$")


def price(cfg: dict, model: str | None = None) -> tuple[float, float] | None:
    """Return ``(input, output)`` USD per million tokens of ``model`` (default: ``cfg["model"]``), or None.

    Order: ``price_input_per_mtok`` / ``price_output_per_mtok`` (both, for every model of the block), then
    ``cfg["prices"][model]``, then :data:`PRICES` (exact name, then the name without its date suffix)."""
    model = model or cfg["model"]
    if cfg["price_input_per_mtok"] is not None or cfg["price_output_per_mtok"] is not None:
        if cfg["price_input_per_mtok"] is None or cfg["price_output_per_mtok"] is None:
            return None
        return float(cfg["price_input_per_mtok"]), float(cfg["price_output_per_mtok"])
    table = {**PRICES, **{m: (p["input"], p["output"]) for m, p in (cfg.get("prices") or {}).items()}}
    for name in (model, _SNAPSHOT.sub("", model)):
        if name in table:
            return float(table[name][0]), float(table[name][1])
    return None


def check_prices(prices) -> None:
    """Raise ValueError unless ``prices`` is ``{model: {input: number, output: number}}`` (or None)."""
    if prices is None:
        return
    if not isinstance(prices, dict):
        raise ValueError("judge prices must be a mapping {model: {input: USD/Mtok, output: USD/Mtok}}")
    for model, p in prices.items():
        ok = isinstance(p, dict) and set(p) == {"input", "output"}
        if not ok or not all(isinstance(v, int | float) and v >= 0 for v in p.values()):
            raise ValueError(f"judge prices[{model!r}] must be {{input: USD/Mtok, output: USD/Mtok}}: {p!r}")


def cost(prompt_tokens: int, completion_tokens: int, cfg: dict, factor: float = 1.0) -> float | None:
    """Return the USD cost of the tokens at ``cfg["model"]``'s price (× ``factor``), or None when unknown."""
    known = price(cfg)
    if known is None:
        return None
    return factor * (prompt_tokens * known[0] + completion_tokens * known[1]) / 1e6
