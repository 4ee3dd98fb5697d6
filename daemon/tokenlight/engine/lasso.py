"""A small LASSO in torch, for surrogates of a span model: few samples (tens to hundreds), up to a
few thousand features.

ContextCite fits its surrogate with scikit-learn's Lasso. Like the weighted least squares of
LIME/KernelSHAP (``methods/surrogates.py``), we solve it in float64 with torch rather than add
scikit-learn and SciPy to the daemon: FISTA (Beck & Teboulle 2009), proximal gradient steps with
Nesterov momentum, on centred data so the intercept needs no penalty. The support LASSO selects is
then refitted by least squares ("relaxed" LASSO, Meinshausen 2007): LASSO shrinks every kept
coefficient by about the penalty, and the refit removes that bias, so a model that really is
additive over its spans is recovered exactly (tests/engine/test_spans.py). A support too large
for the samples to determine (as many spans as masks) is not refitted: its least-squares fit is not
unique, and picking one made the scores jump with rounding; those fits keep their LASSO
coefficients, and context_ablation says so in the notes.
"""

from __future__ import annotations

import torch

DEFAULT_ALPHA = 0.01  # the penalty as a share of the target's standard deviation
MAX_ITERATIONS = 300
TOLERANCE = 1e-6
CHECK_EVERY = 16


def lasso(x: torch.Tensor, y: torch.Tensor, alpha: float = DEFAULT_ALPHA) -> tuple[torch.Tensor, torch.Tensor]:
    """Sparse linear fit ``y ≈ x @ coef + intercept``.

    Args:
        x (Tensor): ``[n, k]`` features (here: 1 where a span was kept).
        y (Tensor): ``[n]`` targets.
        alpha (float): the L1 penalty λ = alpha · std(y) on (1/2n)·‖y − x·coef − b‖².

    Returns:
        (coef ``[k]``, intercept ``[]``), float64.
    """
    rows = torch.ones(1, x.shape[0], dtype=torch.float64, device=x.device)
    coef, intercept = _batched_lasso(x.double(), y.double(), rows, torch.tensor([alpha], dtype=torch.float64))
    return coef[0], intercept[0]


ALPHAS = (0.1, 0.03, 0.01, 0.003, 0.001)
FOLDS = 4


def lasso_cv(x: torch.Tensor, y: torch.Tensor, alphas: tuple[float, ...] = ALPHAS) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`lasso` with its penalty chosen by ``FOLDS``-fold cross-validation over ``alphas``
    (scikit-learn's LassoCV does the same): a fixed penalty either drops small real contributions
    (an additive model is then not recovered) or keeps noise when spans outnumber samples. Ties go
    to the larger penalty (the sparser fit). The folds are fixed slices of the samples, which are
    already random, so the choice is deterministic. All fold × penalty fits run as one batch."""
    x, y = x.double(), y.double()
    n = x.shape[0]
    if n < 2 * FOLDS:
        return lasso(x, y)
    fold = torch.arange(n, device=x.device) % FOLDS
    train = torch.stack([fold != f for f in range(FOLDS) for _ in alphas]).double()  # [F·A, n]
    penalties = torch.tensor([a for _ in range(FOLDS) for a in alphas], dtype=torch.float64)
    coef, intercept = _batched_lasso(x, y, train, penalties)
    prediction = coef @ x.T + intercept.unsqueeze(1)  # [F·A, n]
    squared = ((prediction - y.unsqueeze(0)) ** 2 * (1 - train)).sum(dim=1).view(FOLDS, len(alphas)).sum(dim=0)
    best = 0
    for i in range(1, len(alphas)):
        if float(squared[i]) < float(squared[best]) * (1 - 1e-9):
            best = i
    return lasso(x, y, alphas[best])


def lasso_cv_many(
    x: torch.Tensor, ys: torch.Tensor, seen: torch.Tensor, alphas: tuple[float, ...] = ALPHAS
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`lasso_cv` for T targets at once: ``ys`` ``[n, T]``, ``seen`` ``[T, k]`` bool (the
    features each target may use; the others get coefficient 0). Coefficients ``[T, k]`` and
    intercepts ``[T]``; each target's fits run in one batch but stop on their own, so each equals
    what it would be alone."""
    x, ys = x.double(), ys.double()
    n = x.shape[0]
    n_targets = ys.shape[1]
    if n < 2 * FOLDS:
        pairs = [lasso(x * seen[t].double(), ys[:, t]) for t in range(n_targets)]
        return torch.stack([c for c, _ in pairs]), torch.stack([b for _, b in pairs])
    fold = torch.arange(n, device=x.device) % FOLDS
    train = torch.stack([fold != f for f in range(FOLDS) for _ in alphas]).double()  # [F·A, n]
    penalties = torch.tensor([a for _ in range(FOLDS) for a in alphas], dtype=torch.float64)
    fits = FOLDS * len(alphas)
    masked = x.unsqueeze(0) * seen.double().unsqueeze(1)  # [T, n, k]
    coef, intercept = _batched_lasso(
        masked.repeat_interleave(fits, dim=0),
        ys.T.repeat_interleave(fits, dim=0),
        train.repeat(n_targets, 1),
        penalties.repeat(n_targets),
    )
    prediction = torch.bmm(coef.unsqueeze(1), masked.repeat_interleave(fits, dim=0).transpose(1, 2))[:, 0]
    prediction = prediction + intercept.unsqueeze(1)  # [T·F·A, n]
    error = ((prediction - ys.T.repeat_interleave(fits, dim=0)) ** 2 * (1 - train.repeat(n_targets, 1))).sum(dim=1)
    error = error.view(n_targets, FOLDS, len(alphas)).sum(dim=1)  # [T, A]
    chosen = []
    for t in range(n_targets):
        best = 0
        for i in range(1, len(alphas)):
            if float(error[t, i]) < float(error[t, best]) * (1 - 1e-9):
                best = i
        chosen.append(alphas[best])
    ones = torch.ones(n_targets, n, dtype=torch.float64, device=x.device)
    return _batched_lasso(masked, ys.T, ones, torch.tensor(chosen, dtype=torch.float64))


def _batched_lasso(
    x: torch.Tensor, y: torch.Tensor, rows: torch.Tensor, alphas: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """B LASSO fits of ``y`` on ``x`` at once, fit b on the rows weighted 1 in ``rows[b]``, with
    penalty ``alphas[b]``: coefficients ``[B, k]`` and intercepts ``[B]``. FISTA on centred data,
    then least squares on each fit's support. ``x`` is ``[n, k]`` shared or ``[B, n, k]``, ``y``
    ``[n]`` shared or ``[B, n]``.

    The steps run on the Gram matrix G = XᵀX/n and c = Xᵀy/n, formed once: a step costs k² per fit
    instead of the 2·n·k of two products with X (stepping through X when k > 2n measured no faster,
    benchmarks/RESULTS.md), the step size comes from one batched ``eigvalsh`` of G instead of an SVD
    of X per fit, and every fit's refit is one batched solve instead of a ``lstsq`` per fit."""
    if x.dim() == 2:
        x = x.unsqueeze(0).expand(len(rows), -1, -1)
    if y.dim() == 1:
        y = y.unsqueeze(0).expand(len(rows), -1)
    k = x.shape[2]
    count = rows.sum(dim=1)  # [B]
    x_mean = torch.bmm(rows.unsqueeze(1), x)[:, 0] / count.unsqueeze(1)  # [B, k]
    y_mean = (rows * y).sum(dim=1) / count  # [B]
    root = rows.sqrt().unsqueeze(2)  # [B, n, 1]: rows outside a fit are zeroed
    xc = (x - x_mean.unsqueeze(1)) * root  # [B, n, k]
    yc = (y - y_mean.unsqueeze(1)) * root[..., 0]  # [B, n]
    scale = (yc.pow(2).sum(dim=1) / (count - 1).clamp_min(1)).sqrt()
    penalty = (alphas.to(x.device) * scale).unsqueeze(1)  # [B, 1]
    gram = torch.bmm(xc.transpose(1, 2), xc) / count.view(-1, 1, 1)  # [B, k, k]
    linear = torch.bmm(xc.transpose(1, 2), yc.unsqueeze(2))[..., 0] / count.unsqueeze(1)  # [B, k]
    lipschitz = torch.linalg.eigvalsh(gram)[:, -1] if k else torch.zeros(len(rows), dtype=torch.float64)
    step = torch.where(lipschitz > 1e-12, 1.0 / lipschitz.clamp_min(1e-300), torch.zeros_like(lipschitz)).unsqueeze(1)
    coef = torch.zeros(len(rows), k, dtype=torch.float64, device=x.device)
    momentum, t = coef.clone(), 1.0
    # each fit stops on its own (frozen once converged), so a fit never depends on the others in
    # its batch; convergence is read back every CHECK_EVERY steps to spare a sync per step
    active = torch.ones(len(rows), dtype=torch.bool, device=x.device)
    for step_index in range(MAX_ITERATIONS):
        # broadcast products, not bmm: float64 bmm on many tiny matrices measured 10-20× slower here
        gradient = (gram * momentum.unsqueeze(1)).sum(dim=2) - linear  # [B, k]
        moved = momentum - step * gradient
        new = torch.sign(moved) * (moved.abs() - step * penalty).clamp_min(0.0)
        t_next = (1.0 + (1.0 + 4.0 * t * t) ** 0.5) / 2.0
        change = (new - coef).abs().amax(dim=1) if k else torch.zeros(len(rows), dtype=torch.float64)
        live = active.unsqueeze(1)
        momentum = torch.where(live, new + ((t - 1.0) / t_next) * (new - coef), momentum)
        coef = torch.where(live, new, coef)
        t = t_next
        active = active & ~(change <= TOLERANCE * (1.0 + (coef.abs().amax(dim=1) if k else torch.zeros_like(change))))
        if step_index % CHECK_EVERY == CHECK_EVERY - 1 and not bool(active.any()):
            break
    coef = _refit(gram, linear, coef, count)
    intercept = y_mean - (x_mean * coef).sum(dim=1)
    return coef, intercept


def _refit(gram: torch.Tensor, linear: torch.Tensor, coef: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    """Least squares on each fit's support (the relaxed LASSO), all fits in one batched solve: the
    normal equations G_S β = c_S, with the identity on the features outside the support (their β
    is then 0). A support of as many spans as the fit has rows less one (centred data has rank at
    most n − 1) has no unique least-squares fit: the refit would pick one of infinitely many and
    jump between them as the data move by rounding, so such a fit keeps its LASSO coefficients
    (see :func:`underdetermined`). A tiny ridge (1e-10 of G's mean diagonal) keeps a support with
    collinear spans (two spans always kept together) solvable without moving a determined fit."""
    if coef.shape[1] == 0:
        return coef
    support = coef != 0  # [B, k]
    refit = support.any(dim=1) & ~underdetermined(coef, count)
    if not bool(refit.any()):
        return coef
    mask = support.double()
    eye = torch.eye(coef.shape[1], dtype=torch.float64, device=coef.device)
    ridge = 1e-10 * gram.diagonal(dim1=1, dim2=2).mean(dim=1).clamp_min(1e-300).view(-1, 1, 1)
    system = gram * mask.unsqueeze(2) * mask.unsqueeze(1) + eye * (1 - mask).unsqueeze(2) + ridge * eye
    solved = torch.linalg.solve(system[refit], (linear * mask)[refit].unsqueeze(2))[..., 0]
    out = coef.clone()
    out[refit] = solved * mask[refit]
    return out


def underdetermined(coef: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    """``[B]`` bool: the fit's support has at least n − 1 spans (n its rows), too many to refit."""
    return (coef != 0).sum(dim=1) >= (count - 1).clamp_min(1)


def r_squared(prediction: torch.Tensor, y: torch.Tensor) -> float:
    """1 − SS_res / SS_tot (1.0 when y is constant and predicted exactly)."""
    residual = float(((y - prediction) ** 2).sum())
    total = float(((y - y.mean()) ** 2).sum())
    if total <= 1e-24:
        return 1.0 if residual <= 1e-18 else 0.0
    return 1.0 - residual / total
