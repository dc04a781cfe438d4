"""The assignment checks: the references pass, and every diagnostic fires on the mistake it names.

Each case feeds a check a deliberately wrong implementation (a wrong factor, a transpose, an
in-place edit, a detached result, a Python loop, a wrong shape, ...) and demands a
:class:`CheckFailed` (an AssertionError) whose message contains the fragment a student needs.
"""

from __future__ import annotations

import pytest
import torch

from nstyle_helpers import checks
from nstyle_helpers.core import losses
from nstyle_helpers.classroom.checks import CheckFailed
from nstyle_helpers.classroom.checks.a3 import adam_loop


def per_image(t):
    return t.flatten(1).sum(dim=1)


# ---------------------------------------------------------------------------------------------
# Wrong implementations that need more than a lambda


def pixel_loss_in_place(y, z):
    y.sub_(z)
    return per_image(y.pow(2))


def pixel_loss_pixel_loop(y, z):
    n, c, h, w = y.shape
    total = torch.zeros(n, dtype=y.dtype)
    for i in range(h):
        for j in range(w):
            total = total + (y[:, :, i, j] - z[:, :, i, j]).pow(2).sum(dim=1)
    return total


def pixel_loss_no_grad(y, z):
    with torch.no_grad():
        return per_image((y - z).pow(2))


def pixel_loss_forgot_return(y, z):
    per_image((y - z).pow(2))


def pixel_loss_via_numpy(y, z):
    return per_image(torch.from_numpy(((y - z) ** 2).numpy()))


def not_written(*args):
    raise NotImplementedError()


def step_in_place(image, target, lr):
    image.sub_(lr * 2 * (image - target))
    return image


def step_without_requires_grad(image, target, lr):
    loss = losses.pixel_loss(image, target).sum()
    loss.backward()
    return image - lr * image.grad


def step_grad_is_none(image, target, lr):
    x = image.clone().requires_grad_(True)
    losses.pixel_loss(x, target).sum()
    return x - lr * x.grad


def step_backward_on_vector(image, target, lr):
    x = image.clone().requires_grad_(True)
    losses.pixel_loss(x, target).backward()
    return (x - lr * x.grad).detach()


def gram_loop(f):
    n, c, h, w = f.shape
    flat = f.reshape(n, c, -1)
    rows = [torch.stack([(flat[:, i] * flat[:, j]).sum(-1) for j in range(c)], dim=-1)
            for i in range(c)]
    return torch.stack(rows, dim=1)


def gram_batch_loop_float32(f):
    """A loop over the images into a buffer of the default dtype (float32)."""
    out = torch.empty(f.shape[0], f.shape[1], f.shape[1])
    for b in range(f.shape[0]):
        out[b] = f[b].flatten(1) @ f[b].flatten(1).t()
    return out


def gram_one_factor_detached(f):
    flat = f.flatten(2)
    return flat @ flat.detach().transpose(1, 2)


def combined_with(alpha_content=True, beta_style=True, swap=False, weights=True, average=False):
    def fn(features, content_targets, style_targets, alpha, beta, style_weights):
        content = sum(losses.content_loss(features[l], t) for l, t in content_targets.items())
        style = sum(losses.style_layer_loss(losses.gram_matrix(features[l]), t,
                                            features[l][0, 0].numel(),
                                            style_weights[l] if weights else 1.0)
                    for l, t in style_targets.items())
        if average:
            style = style / len(style_targets)
        if swap:
            alpha, beta = beta, alpha
        return ((alpha if alpha_content else 1.0) * content
                + (beta if beta_style else 1.0) * style)
    return fn


def pixel_loss_channel_loop(y, z):
    return sum((y[:, k] - z[:, k]).pow(2).flatten(1).sum(dim=1) for k in range(y.shape[1]))


def tv_channel_loop(x):
    return sum(losses.total_variation(x[:, k:k + 1]) for k in range(x.shape[1]))


def gram_batch_loop(f):
    out = torch.empty(f.shape[0], f.shape[1], f.shape[1], dtype=f.dtype)
    for b in range(f.shape[0]):
        out[b] = f[b].flatten(1) @ f[b].flatten(1).t()
    return out


def content_batch_loop(f, p):
    return torch.stack([0.5 * (f[b] - p[b]).pow(2).sum() for b in range(f.shape[0])])


def step_with(reduce):
    """A gradient step through autograd on ``reduce(image, target)`` instead of the sum."""
    def fn(image, target, lr):
        x = image.detach().clone().requires_grad_(True)
        reduce(x, target).backward()
        with torch.no_grad():
            return x - lr * x.grad
    return fn


def step_outside_no_grad(image, target, lr):
    x = image.detach().clone().requires_grad_(True)
    losses.pixel_loss(x, target).sum().backward()
    return x - lr * x.grad


def gram_hard_coded(f):
    flat = f.reshape(2, 3, 20)
    return flat @ flat.transpose(1, 2)


def loop_with(**kwargs):
    return lambda loss_fn, init, steps, lr: adam_loop(loss_fn, init, steps, lr, **kwargs)


def loop_in_place(loss_fn, init, steps, lr):
    init.requires_grad_(True)
    optimizer = torch.optim.Adam([init], lr=lr)
    history = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = loss_fn(init).sum()
        loss.backward()
        optimizer.step()
        history.append(loss.item())
    return init, history


def loop_history(transform):
    def fn(loss_fn, init, steps, lr):
        image, history = checks.reference_optimize_image(loss_fn, init, steps, lr)
        return image, transform(history, loss_fn, image)
    return fn


def loop_keeps_tensors(loss_fn, init, steps, lr):
    image = init.detach().clone().requires_grad_(True)
    optimizer = torch.optim.Adam([image], lr=lr)
    history = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = loss_fn(image).sum()
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            image.clamp_(0, 1)
        history.append(loss)
    return image.detach(), history


def loop_too_few_steps(loss_fn, init, steps, lr):
    return checks.reference_optimize_image(loss_fn, init, steps - 1, lr)


# ---------------------------------------------------------------------------------------------

P, G, C, GR, S, TV, CO, L = (checks.check_pixel_loss, checks.check_gradient_step,
                             checks.check_content_loss, checks.check_gram_matrix,
                             checks.check_style_loss, checks.check_total_variation,
                             checks.check_combined_loss, checks.check_optimization_loop)
ref_pixel = losses.pixel_loss

CASES = {
    # pixel loss: factors, shapes, types, autograd, in place, loops, errors
    "pixel/half": (P, lambda y, z: 0.5 * ref_pixel(y, z), "has no ½"),
    "pixel/mean": (P, lambda y, z: (y - z).pow(2).flatten(1).mean(1), "use .sum, not .mean"),
    "pixel/norm": (P, lambda y, z: (y - z).flatten(1).norm(dim=1), "Euclidean distance"),
    "pixel/abs": (P, lambda y, z: per_image((y - z).abs()), "squares the differences"),
    "pixel/no square": (P, lambda y, z: per_image(y - z), "forgot to square"),
    "pixel/other factor": (P, lambda y, z: 3 * ref_pixel(y, z), "3 × the reference everywhere"),
    "pixel/other formula": (P, lambda y, z: per_image((y - z).pow(4)), "differs from the formula"),
    "pixel/batch summed": (P, lambda y, z: (y - z).pow(2).sum(), "summed over the batch"),
    "pixel/partial sum": (P, lambda y, z: (y - z).pow(2).sum(dim=(2, 3)),
                          "Sum over all of dimensions (1, 2, 3)"),
    "pixel/no sum": (P, lambda y, z: (y - z).pow(2), "squared differences themselves"),
    "pixel/item": (P, lambda y, z: ref_pixel(y, z).sum().item(), "did you call .item()"),
    "pixel/numpy result": (P, lambda y, z: ref_pixel(y, z).detach().numpy(), "NumPy"),
    "pixel/numpy inside": (P, pixel_loss_via_numpy, "Calling .numpy() leaves PyTorch"),
    "pixel/None": (P, pixel_loss_forgot_return, "forget the `return`"),
    "pixel/detached": (P, lambda y, z: torch.tensor(ref_pixel(y, z).tolist(), dtype=y.dtype),
                       "no grad_fn"),
    "pixel/no_grad": (P, pixel_loss_no_grad, "torch.no_grad()"),
    "pixel/in place": (P, pixel_loss_in_place, "changed its input `generated` in place"),
    "pixel/loop": (P, pixel_loss_pixel_loop, "loops in Python"),
    "pixel/channel loop": (P, pixel_loss_channel_loop, "loops in Python"),
    "pixel/mean of the batch": (P, lambda y, z: torch.nn.functional.mse_loss(y, z),
                                "one number for the whole batch"),
    "pixel/not written": (P, not_written, "not written yet"),
    "pixel/crash": (P, lambda y, z: y @ z, "raised RuntimeError"),
    # one gradient step
    "step/unchanged": (G, lambda x, z, lr: x.clone(), "returned the image unchanged"),
    "step/uphill": (G, lambda x, z, lr: x + lr * 2 * (x - z), "stepped uphill"),
    "step/no 2": (G, lambda x, z, lr: x - lr * (x - z), "without the 2"),
    "step/gradient": (G, lambda x, z, lr: 2 * (x - z), "returned the gradient"),
    "step/step": (G, lambda x, z, lr: lr * 2 * (x - z), "returned the step"),
    "step/no lr": (G, lambda x, z, lr: x - 2 * (x - z), "ignored the learning rate"),
    "step/mean": (G, lambda x, z, lr: x - lr * 2 * (x - z) / x[0].numel(), "the mean squared"),
    "step/in place": (G, step_in_place, "Work on a copy"),
    "step/requires_grad": (G, step_without_requires_grad, "requires_grad_(True)"),
    "step/grad None": (G, step_grad_is_none, "stays None"),
    "step/vector backward": (G, step_backward_on_vector, "before calling .backward()"),
    "step/mean over the batch": (G, step_with(lambda x, z: losses.pixel_loss(x, z).mean()),
                                 "mean over the batch (loss.mean())"),
    "step/mean over everything": (G, step_with(torch.nn.functional.mse_loss),
                                  "mean over the whole batch"),
    "step/hand-written gradient": (G, lambda x, z, lr: x - lr * 2 * (x - z), "without autograd"),
    "step/outside no_grad": (G, step_outside_no_grad, "still attached to autograd's graph"),
    "step/shape": (G, lambda x, z, lr: (x - lr * 2 * (x - z))[0], "the same shape as the input"),
    # content loss
    "content/no half": (C, lambda f, p: per_image((f - p).pow(2)), "forget the ½"),
    "content/batch loop": (C, content_batch_loop, "loops in Python"),
    "content/mse": (C, lambda f, p: torch.nn.functional.mse_loss(f, p, reduction="none")
                    .flatten(1).mean(1), "F.mse_loss"),
    "content/plain F.mse_loss": (C, torch.nn.functional.mse_loss, "you used F.mse_loss"),
    "content/mean": (C, lambda f, p: 0.5 * (f - p).pow(2).flatten(1).mean(1),
                     "use the sum, not the mean"),
    "content/norm": (C, lambda f, p: (f - p).flatten(1).norm(dim=1), "the distance ‖F − P‖"),
    "content/sqrt": (C, lambda f, p: losses.content_loss(f, p).sqrt(), "square root"),
    "content/abs": (C, lambda f, p: 0.5 * per_image((f - p).abs()), "|F − P|"),
    "content/batch summed": (C, lambda f, p: losses.content_loss(f, p).sum(),
                             "summed over the batch"),
    "content/in place target": (C, lambda f, p: 0.5 * per_image(p.neg_().add_(f).pow(2)),
                                "`target_features` in place"),
    # Gram matrix
    "gram/transposed": (GR, lambda f: f.flatten(2).transpose(1, 2) @ f.flatten(2),
                        "You computed Fᵀ F"),
    "gram/no batch": (GR, lambda f: f[0].flatten(1) @ f[0].flatten(1).t(),
                      "dropped the batch dimension"),
    "gram/mixed batch": (GR, lambda f: f.reshape(f.shape[0] * f.shape[1], -1)
                         @ f.reshape(f.shape[0] * f.shape[1], -1).t(), "mixed the images"),
    "gram/features shape": (GR, lambda f: f * f, "stretch each map into a vector"),
    "gram/flat only": (GR, lambda f: f.flatten(2), "the first half"),
    "gram/divided by NM": (GR, lambda f: losses.gram_matrix(f) / f[0].numel(),
                           "divided by N_l·M_l"),
    "gram/divided by M": (GR, lambda f: losses.gram_matrix(f) / f[0, 0].numel(),
                          "divided by M_l"),
    "gram/divided by N": (GR, lambda f: losses.gram_matrix(f) / f.shape[1],
                          "divided by N_l"),
    "gram/divided by batch": (GR, lambda f: losses.gram_matrix(f) / f.numel(),
                              "whole batch"),
    "gram/twice": (GR, lambda f: 2 * losses.gram_matrix(f), "counted once"),
    "gram/float32 buffer": (GR, gram_batch_loop_float32,
                            "returned torch.float32 for torch.float64 input"),
    "gram/one factor detached": (GR, gram_one_factor_detached, "gradient with respect to"),
    "gram/loop": (GR, gram_loop, "loops in Python"),
    "gram/batch loop": (GR, gram_batch_loop, "loops in Python"),
    "gram/.t() of a batch": (GR, lambda f: f.flatten(2) @ f.flatten(2).t(),
                             ".t() transposes a 2-D matrix only"),
    "gram/hard-coded sizes": (GR, gram_hard_coded, "assume particular sizes"),
    # style loss of one layer
    "style/no 4": (S, lambda g, a, m, w: 4 * losses.style_layer_loss(g, a, m, w),
                   "forget the 4"),
    "style/N not N²": (S, lambda g, a, m, w: g.shape[-1] * losses.style_layer_loss(g, a, m, w),
                       "not N_l"),
    "style/M not M²": (S, lambda g, a, m, w: m * losses.style_layer_loss(g, a, m, w),
                       "not M_l"),
    "style/NM not (NM)²": (S, lambda g, a, m, w: g.shape[-1] * m
                           * losses.style_layer_loss(g, a, m, w), "instead of (N_l·M_l)²"),
    "style/unnormalised": (S, lambda g, a, m, w: w * per_image((g - a).pow(2)),
                           "no normalisation"),
    "style/not squared": (S, lambda g, a, m, w: w / (4 * g.shape[-1] ** 2 * m**2)
                          * (g - a).flatten(1).sum(1), "without squaring them"),
    "style/no weight": (S, lambda g, a, m, w: losses.style_layer_loss(g, a, m), "ignored the layer"),
    "style/mean": (S, lambda g, a, m, w: losses.style_layer_loss(g, a, m, w) / g.shape[-1] ** 2,
                   "mean over the N_l² entries"),
    # total variation
    "tv/abs": (TV, lambda x: per_image((x[..., 1:, :] - x[..., :-1, :]).abs())
               + per_image((x[..., :, 1:] - x[..., :, :-1]).abs()), "squared form"),
    "tv/vertical only": (TV, lambda x: per_image((x[..., 1:, :] - x[..., :-1, :]).pow(2)),
                         "only compared vertical"),
    "tv/horizontal only": (TV, lambda x: per_image((x[..., :, 1:] - x[..., :, :-1]).pow(2)),
                           "only compared horizontal"),
    "tv/mean": (TV, lambda x: (x[..., 1:, :] - x[..., :-1, :]).pow(2).flatten(1).mean(1)
                + (x[..., :, 1:] - x[..., :, :-1]).pow(2).flatten(1).mean(1), "not .mean"),
    "tv/roll": (TV, lambda x: per_image((x.roll(-1, -2) - x).pow(2))
                + per_image((x.roll(-1, -1) - x).pow(2)), "wrap around"),
    "tv/channel loop": (TV, tv_channel_loop, "loops in Python"),
    "tv/twice": (TV, lambda x: 2 * losses.total_variation(x), "counts once"),
    # combined loss
    "combined/swapped": (CO, combined_with(swap=True), "swapped α and β"),
    "combined/no w_l": (CO, combined_with(weights=False), "ignored the layer weights"),
    "combined/no style": (CO, lambda f, c, s, a, b, w: checks.reference_combined_loss(
        f, c, {}, a, 0.0, {}), "style term is missing"),
    "combined/no content": (CO, lambda f, c, s, a, b, w: checks.reference_combined_loss(
        f, {}, s, 0.0, b, w), "content term is missing"),
    "combined/no α β": (CO, combined_with(alpha_content=False, beta_style=False),
                        "left out α and β"),
    "combined/averaged": (CO, combined_with(average=True), "averaged E_l"),
    "combined/batch summed": (CO, lambda *args: checks.reference_combined_loss(*args).sum(),
                              "summed over the batch"),
    # optimisation loop
    "loop/no zero_grad": (L, loop_with(zero_grad=False), "never reset the gradients"),
    "loop/no clamp": (L, loop_with(clamp=False), "do not clamp"),
    "loop/neither": (L, loop_with(zero_grad=False, clamp=False), "neither reset"),
    "loop/sgd": (L, loop_with(optimizer="sgd"), "torch.optim.Adam"),
    "loop/in place": (L, loop_in_place, "Optimise a copy"),
    "loop/not a pair": (L, lambda *args: checks.reference_optimize_image(*args)[0],
                        "return a pair"),
    "loop/too few steps": (L, loop_too_few_steps, "called loss_fn 5 times for 6 steps"),
    "loop/history length": (L, loop_history(lambda h, f, x: h[:-1]), "one loss per step"),
    "loop/history tensors": (L, loop_keeps_tensors, "loss.item()"),
    "loop/history text": (L, loop_history(lambda h, f, x: ["n/a"] * len(h)), "hold numbers"),
    "loop/history shifted": (L, loop_history(lambda h, f, x: h[1:] + h[-1:]),
                             "shifted by one step"),
    "loop/history mean": (L, loop_history(lambda h, f, x: [v / 2 for v in h]),
                          "mean over the batch"),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_each_mistake_gets_its_message(case):
    check, wrong, fragment = CASES[case]
    with pytest.raises(CheckFailed) as info:
        check(wrong)
    assert fragment in str(info.value), str(info.value)


REFERENCES = [
    (checks.check_pixel_loss, losses.pixel_loss),
    (checks.check_gradient_step, checks.reference_gradient_step),
    (checks.check_content_loss, losses.content_loss),
    (checks.check_gram_matrix, losses.gram_matrix),
    (checks.check_style_loss, losses.style_layer_loss),
    (checks.check_total_variation, losses.total_variation),
    (checks.check_combined_loss, checks.reference_combined_loss),
    (checks.check_optimization_loop, checks.reference_optimize_image),
]


@pytest.mark.parametrize("check, reference", REFERENCES, ids=[c.__name__ for c, _ in REFERENCES])
def test_the_reference_passes_with_one_line(check, reference, capsys):
    check(reference)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and lines[0].startswith("✓ "), lines
    assert check.reference is reference


def test_other_correct_implementations_pass(capsys):
    """Correct code written differently (einsum, bmm, float32 maths) passes; a loop over the
    batch does not (the assignments ask for no Python loop: "gram/batch loop" above)."""
    checks.check_gram_matrix(lambda f: torch.einsum("nik,njk->nij", f.flatten(2), f.flatten(2)))
    checks.check_gram_matrix(lambda f: torch.bmm(f.flatten(2), f.flatten(2).transpose(1, 2)))
    checks.check_content_loss(lambda f, p: ((f - p) ** 2).sum(dim=(1, 2, 3)) / 2)
    checks.check_total_variation(lambda x: x.diff(dim=-2).pow(2).sum((1, 2, 3))
                                 + x.diff(dim=-1).pow(2).sum((1, 2, 3)))
    assert capsys.readouterr().out.count("✓") == 4


def test_check_failed_is_an_assertion_error():
    """So nbgrader, nbval and pytest all count a failed check as a failure."""
    assert issubclass(CheckFailed, AssertionError)


def test_checks_do_not_touch_the_global_random_state():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    checks.check_gram_matrix(losses.gram_matrix)
    checks.check_optimization_loop(checks.reference_optimize_image)
    assert torch.equal(torch.rand(3), expected)


def test_count_torch_calls_grows_with_a_loop_only():
    small, large = torch.ones(2, 3, 4, 4), torch.ones(2, 6, 8, 8)
    assert checks.count_torch_calls(losses.gram_matrix, small) == \
        checks.count_torch_calls(losses.gram_matrix, large)
    assert checks.count_torch_calls(gram_loop, large) > 2 * checks.count_torch_calls(gram_loop,
                                                                                     small)


def test_yours_or_reference(capsys):
    chosen = checks.yours_or_reference(losses.gram_matrix, checks.check_gram_matrix)
    assert capsys.readouterr().out == ""  # the passing check's ✓ line is not shown
    features = torch.randn(1, 4, 3, 3)
    assert torch.equal(chosen(features), losses.gram_matrix(features))
    chosen = checks.yours_or_reference(not_written, checks.check_gram_matrix)
    assert chosen is losses.gram_matrix
    out = capsys.readouterr().out
    assert "Using the reference solution" in out and "not written yet" in out


def test_yours_or_reference_falls_back_when_a_passing_function_raises(capsys):
    """A function that passes the visible check may still fail on the demonstration's sizes."""
    def gram_for_small_inputs_only(f):
        if f.shape[1] > 6:
            raise RuntimeError("shape '[2, 3, 20]' is invalid for input of size 1024")
        return losses.gram_matrix(f)

    chosen = checks.yours_or_reference(gram_for_small_inputs_only, checks.check_gram_matrix)
    features = torch.randn(1, 64, 4, 4)
    assert torch.equal(chosen(features), losses.gram_matrix(features))
    out = capsys.readouterr().out
    assert "passed its check but raised RuntimeError" in out and "from now on" in out
    assert torch.equal(chosen(features[:, :3]), losses.gram_matrix(features[:, :3]))
    assert capsys.readouterr().out == ""  # said once


# ---------------------------------------------------------------------------------------------
# Marks: partial credit in the form nbgrader reads


def test_marks_share_the_points_among_the_parts_that_ran():
    marks = checks.Marks(points=3)
    checks.check_gram_matrix(gram_loop, marks)  # right values and gradient, but a loop
    with marks.part("a hidden test"):
        raise CheckFailed("gram_matrix on features of shape (3, 5, 4, 7) returned shape (5,).")
    assert [(part.what, part.weight, part.passed) for part in marks.parts] == [
        ("values and shape", 2, True), ("gradient", 1, True),
        ("no Python loop, any size", 1, False),
        ("a hidden test", 1, False)]
    assert marks.score == 1.8  # 3 points × 3/5 of the weight
    assert repr(marks) == "1.8"  # the text/plain nbgrader parses
    data = marks._repr_json_()
    assert data["points"] == 1.8 and data["max"] == 3
    assert "loops in Python" in data["parts"][2]["message"]
    assert "(3, 5, 4, 7)" in data["parts"][3]["message"]
    assert "✗ a hidden test" in marks._repr_html_() and "1.8 / 3 points" in marks._repr_html_()


def test_a_wrong_shape_is_named_once_and_not_blamed_on_the_gradient():
    # Fᵀ F: the values part names the mistake; the gradient part must not say the student's
    # code "assumes particular sizes" because the check's own weights had the right shape.
    marks = checks.Marks(points=3)
    checks.check_gram_matrix(lambda f: f.flatten(2).transpose(1, 2) @ f.flatten(2), marks)
    messages = {part.what: part.message for part in marks.parts}
    assert "You computed Fᵀ F" in messages["values and shape"]
    assert "fix the shape first" in messages["gradient"]
    assert "particular sizes" not in messages["gradient"]


def test_marks_of_a_blank_and_of_a_correct_function():
    blank, full = checks.Marks(points=2), checks.Marks(points=2)
    checks.check_pixel_loss(not_written, blank)
    checks.check_pixel_loss(losses.pixel_loss, full)
    assert (blank.score, full.score) == (0.0, 2.0)
    assert all("not written yet" in part.message for part in blank.parts)


def test_a_near_miss_scores_more_than_a_blank_notebook():
    marks = checks.Marks(points=2)
    checks.check_content_loss(lambda f, p: per_image((f - p).pow(2)), marks)  # no ½
    assert 0 < marks.score < 2
    assert "forget the ½" in marks.failed[0].message


@pytest.mark.parametrize("check, wrong", [
    (checks.check_content_loss, lambda f, p: per_image((f - p).pow(2))),  # no ½
    (checks.check_gram_matrix,
     lambda f: f.flatten(2) @ f.flatten(2).transpose(1, 2) / f[0, 0].numel()),  # ÷ M
])
def test_wrong_values_never_get_told_their_values_are_right(check, wrong):
    marks = checks.Marks(points=3)
    check(wrong, marks)
    messages = {part.what: part.message for part in marks.parts}
    assert not marks.parts[0].passed
    assert "values are right" not in messages["gradient"]
    assert "as its values do: fix the values first" in messages["gradient"]


def test_parts_record_errors_and_silence_warnings(capfd):
    import warnings

    marks = checks.Marks(points=1)
    with marks.part("a worked example"):
        warnings.warn("nbgrader gives 0 points to a cell that writes to stderr")
        undefined_function()  # noqa: F821
    with marks.part("float32"):
        raise RuntimeError("expected scalar type Double but found Float")
    assert capfd.readouterr().err == ""
    first, second = marks.failed
    assert "'undefined_function' is not defined" in first.message
    assert "restore it" in first.message
    assert second.message.startswith("your code raised RuntimeError: expected scalar type")


def test_expect_speaks_in_the_voice_of_the_checks():
    with pytest.raises(CheckFailed, match=r"pixel_loss on a worked example returned \[4\], "
                                          r"expected \[5\]"):
        checks.expect("pixel_loss", torch.tensor([4.0]), torch.tensor([5.0]), "on a worked example")
    with pytest.raises(CheckFailed, match="returned shape"):
        checks.expect("f", torch.zeros(3), torch.zeros(1), "for a batch of 3")
    with pytest.raises(CheckFailed, match="keep the input's dtype"):
        checks.expect("f", torch.zeros(1, dtype=torch.float64), torch.zeros(1), "in float32")
    checks.expect("f", torch.ones(2), torch.ones(2), "on ones")
    # A hidden test names a constant factor rather than dumping values; one number cannot.
    with pytest.raises(CheckFailed, match=r"returned \[10, 22, 22, 50\], expected "
                                          r"\[5, 11, 11, 25\]: 2 × the expected values"):
        checks.expect("gram_matrix", torch.tensor([10.0, 22, 22, 50]),
                      torch.tensor([5.0, 11, 11, 25]), "on a worked example")
    with pytest.raises(CheckFailed) as single:
        checks.expect("pixel_loss", torch.tensor([4.0]), torch.tensor([5.0]), "on one number")
    assert "×" not in str(single.value)
    # A listed mistake is named, before any constant factor; one of another shape is passed over.
    mistakes = [(torch.zeros(2), "not this one"), (torch.tensor([10.0]), "that is twice it")]
    with pytest.raises(CheckFailed, match=r"returned \[10\], expected \[5\]: that is twice it\.$"):
        checks.expect("f", torch.tensor([10.0]), torch.tensor([5.0]), "on one number",
                      mistakes=mistakes)


def test_a_failed_check_shows_its_message_not_a_traceback(capsys):
    """IPython shows _render_traceback_'s lines instead of the frames of checks.py."""
    with pytest.raises(CheckFailed) as info:
        checks.check_gram_matrix(lambda f: 2 * losses.gram_matrix(f))
    lines = info.value._render_traceback_()
    assert lines[0].startswith("CheckFailed: gram_matrix: your Gram matrix is twice")
    assert len(lines) == 2 and "full_traceback" in lines[1]
    marks = checks.Marks(points=3)
    checks.check_gram_matrix(lambda f: 2 * losses.gram_matrix(f), marks)
    checks.full_traceback(marks)
    assert "Traceback (most recent call last)" in capsys.readouterr().out
