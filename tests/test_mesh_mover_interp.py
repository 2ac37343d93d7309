"""Paper 42 (mesh-mover-interp): the Burgers generator, monitor, meshes, P1 errors and proxy bounds against
closed forms and brute force; the DMM derivatives against finite differences; a smoke run; a negative control for
every claim."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

import boundrun
from boundrun.config import ConfigError
from boundrun.experiments.mesh_mover_interp import CLAIMS, MeshMoverInterpConfig
from boundrun.experiments.mesh_mover_interp import algorithms as A
from boundrun.experiments.mesh_mover_interp import bounds as B

CLAIM = {c.name: c for c in CLAIMS}


def periodic_grid(M):
    g = np.arange(M) / M
    return np.meshgrid(g, g, indexing="ij")


# -- data and monitor ----------------------------------------------------------------------------------------

def test_burgers_small_amplitude_mode_decays_at_the_heat_equation_rate():
    M, nu = 16, 0.01
    X, Y = periodic_grid(M)
    u0 = 1e-6 * np.sin(2 * np.pi * X)[None]
    U = A.burgers(u0, nu, 1e-2, 1.0, 11)
    expected = u0[0] * np.exp(-nu * (2 * np.pi) ** 2 * 1.0)
    np.testing.assert_allclose(U[0, -1], expected, atol=1e-6 * 1e-6)


def test_burgers_conserves_the_mean_and_keeps_a_bounded_field():
    u0 = A.initial_condition(np.random.default_rng(1), 2, 32)
    U = A.burgers(u0, 0.003, 4e-3, 0.5, 6)
    np.testing.assert_allclose(U[:, -1].mean(axis=(1, 2)), u0.mean(axis=(1, 2)), atol=1e-10)
    assert np.abs(U[:, -1]).max() <= np.abs(u0).max() + 1e-6  # max principle of viscous Burgers


def test_initial_condition_has_no_jump_across_the_periodic_boundary():
    u0 = A.initial_condition(np.random.default_rng(0), 3, 64)
    jump = np.abs(u0[:, 0] - u0[:, -1]).max()
    inner = np.abs(np.diff(u0, axis=1)).max()
    assert jump <= inner + 1e-12


def test_monitor_matches_the_closed_form_of_central_differences():
    M = 32
    X, Y = periodic_grid(M)
    u = np.sin(2 * np.pi * X)
    g = np.abs(np.sin(2 * np.pi / M) * M * np.cos(2 * np.pi * X))  # central difference of sin, exactly
    rho = A.monitor_density(u)
    np.testing.assert_allclose(rho, 1 + g / (0.01 * g.mean()), rtol=1e-10)


# -- meshes --------------------------------------------------------------------------------------------------

def test_de_boor_mesh_equidistributes_a_one_dimensional_density_exactly():
    M, n = 64, 9
    X, _ = periodic_grid(M)
    rho = 1 + 5 * np.exp(-((X - 0.4) ** 2) / 0.01)
    Xm = A.de_boor_mesh(rho, n)
    np.testing.assert_allclose(Xm[:, :, 1], A.uniform_mesh(n)[:, :, 1], atol=1e-12)  # y-marginal is flat
    # brute force: the rho-mass between consecutive x-nodes (piecewise-constant rho on cells) is equal
    fine = np.linspace(0, 1, 200001)
    dens = rho[:, 0][np.minimum((fine * M).astype(int), M - 1)]
    cum = np.concatenate([[0], np.cumsum((dens[1:] + dens[:-1]) / 2 * np.diff(fine))])
    masses = np.diff(np.interp(Xm[:, 0, 0], fine, cum))
    np.testing.assert_allclose(masses, masses.mean(), rtol=1e-3)


def test_ot_mesh_reproduces_the_identity_for_a_constant_density():
    X = A.ot_mesh(np.ones((32, 32)), 10, 1e-4, 60)
    assert np.abs(X - A.uniform_mesh(10)).max() < 0.5 / 32  # within half a target cell (spec: ~0.6 with emd)


def test_ot_mesh_of_a_product_density_matches_the_separable_de_boor_map():
    # for rho(x, y) = f(x), the Brenier map is the 1-D monotone map in x: the de Boor mesh
    m = 48
    c = (np.arange(m) + 0.5) / m
    f = 1 + 4 * np.exp(-((c - 0.6) ** 2) / 0.005)
    rho = np.repeat(f[:, None], m, 1)
    X = A.ot_mesh(rho, 8, 1e-4, 150)
    # de Boor on the same cell-centred density (cells [i/m, (i+1)/m))
    D = A.de_boor_mesh(rho, 8)
    assert np.abs(X - D).max() < 1.5 / m


def test_signed_areas_sum_to_one_and_detect_a_fold():
    X = A.uniform_mesh(6)
    assert np.isclose(A.signed_areas(X).sum(), 1.0) and (A.signed_areas(X) > 0).all()
    Y = X.copy()
    Y[2, 2] = X[4, 4]  # drag an interior node past its neighbours
    assert (A.signed_areas(Y) <= 0).sum() > 0


def test_equidistribution_of_the_uniform_mesh_under_a_constant_density_is_perfect():
    mean, std, rng = A.equidistribution(A.uniform_mesh(7), np.full((16, 16), 3.0))
    assert np.isclose(mean, 1.0) and std < 1e-12 and rng < 1e-12


# -- errors and bounds ---------------------------------------------------------------------------------------

def brute_force_p1(u, n):
    """P1 interpolant on the uniform n x n mesh (lower-right / upper-left triangles) at the fine points."""
    M = u.shape[0]
    nodes = A.uniform_mesh(n)
    z = A.sample_periodic(u, nodes)
    h = 1 / (n - 1)
    X, Y = periodic_grid(M)
    a = np.minimum((X / h).astype(int), n - 2)
    b = np.minimum((Y / h).astype(int), n - 2)
    tx, ty = X / h - a, Y / h - b
    z00, z10, z01, z11 = z[a, b], z[a + 1, b], z[a, b + 1], z[a + 1, b + 1]
    low = tx >= ty  # triangle (p00, p10, p11)
    return np.where(low, z00 + tx * (z10 - z00) + ty * (z11 - z10), z00 + ty * (z01 - z00) + tx * (z11 - z01))


def test_p1_error_matches_a_brute_force_interpolant_and_b1_its_closed_form():
    M, n = 48, 7
    X, Y = periodic_grid(M)
    u = np.sin(2 * np.pi * X) * np.cos(2 * np.pi * Y) + 0.3 * np.cos(4 * np.pi * X)
    r = A.interpolation_errors(A.uniform_mesh(n), u)
    np.testing.assert_allclose(r["E_L2"], np.sqrt(np.mean((u - brute_force_p1(u, n)) ** 2)), rtol=1e-10)
    ux, uy = A.grad_periodic(u)
    diam = np.sqrt(2) / (n - 1)  # every triangle of the uniform mesh
    np.testing.assert_allclose(r["B1"], diam * np.sqrt(np.mean(ux**2 + uy**2)), rtol=1e-10)
    uxx, uxy, uyy = A.hessian_periodic(u)
    np.testing.assert_allclose(r["B2"], diam**2 * np.sqrt(np.mean(uxx**2 + 2 * uxy**2 + uyy**2)), rtol=1e-10)


def test_p1_error_of_a_smooth_field_falls_like_h_squared_on_uniform_meshes():
    X, Y = periodic_grid(64)
    u = np.sin(2 * np.pi * X) * np.sin(2 * np.pi * Y)
    e = [A.interpolation_errors(A.uniform_mesh(n), u)["E_L2"] for n in (9, 17)]
    assert 3.3 < e[0] / e[1] < 4.7


def test_fit_constant_and_kendall_tau_against_brute_force():
    assert B.fit_constant(2.0, 4.0) == 0.5
    with pytest.raises(ValueError):
        B.fit_constant(1.0, 0.0)
    a, b = np.array([3.0, 1.0, 2.0, 5.0]), np.array([2.0, 1.0, 4.0, 3.0])
    pairs = [(i, j) for i in range(4) for j in range(i + 1, 4)]
    brute = np.mean([np.sign(a[i] - a[j]) * np.sign(b[i] - b[j]) for i, j in pairs])
    assert A.kendall_tau(a, b) == brute


# -- DMM -----------------------------------------------------------------------------------------------------

def test_dmm_split_head_equals_the_concatenated_head_and_hessian_matches_finite_differences():
    import torch

    torch.manual_seed(0)
    model = A.make_dmm(width=8, trunk_hidden=4, head_hidden=6, dense=16).double()
    u = torch.randn(2, 48, 48, dtype=torch.float64)
    xi = torch.rand(2, 5, 2, dtype=torch.float64)
    b = model.branch(u)[:, None, :].expand(-1, 5, -1)
    ref = model.head(torch.cat([b, model.trunk(xi)], -1))[..., 0]
    torch.testing.assert_close(model(u, xi), ref)
    _, g, pxx, pxy, pyy = A.psi_derivatives(model, u, xi.clone())
    e = 1e-4
    with torch.no_grad():
        d = lambda k: (model(u, xi + e * k) - model(u, xi - e * k)) / (2 * e)  # noqa: E731
        ex, ey = torch.tensor([e, 0.0], dtype=torch.float64) / e, torch.tensor([0.0, e], dtype=torch.float64) / e
        torch.testing.assert_close(g[..., 0].detach(), d(ex), rtol=1e-6, atol=1e-8)
        fxx = (model(u, xi + e * ex) - 2 * model(u, xi) + model(u, xi - e * ex)) / e**2
        torch.testing.assert_close(pxx.detach(), fxx, rtol=1e-3, atol=1e-5)
        fxy = (model(u, xi + e * (ex + ey)) - model(u, xi + e * (ex - ey)) - model(u, xi - e * (ex - ey))
               + model(u, xi - e * (ex + ey))) / (4 * e**2)
        torch.testing.assert_close(pxy.detach(), fxy, rtol=1e-3, atol=1e-5)


def test_dmm_loss_of_the_zero_potential_is_the_equidistribution_defect_of_the_identity():
    import torch

    model = A.make_dmm(width=8, trunk_hidden=4, head_hidden=6, dense=16)
    with torch.no_grad():
        for p in model.head[2].parameters():
            p.zero_()  # psi = 0: x(xi) = xi, det = 1, dpsi/dn = 0
    rng = np.random.default_rng(0)
    X, Y = periodic_grid(48)
    f = np.sin(2 * np.pi * X) * np.cos(2 * np.pi * Y)[None] + 0 * X
    f = np.broadcast_to(f, (2, 48, 48)).copy()
    ux, uy = A.grad_periodic(f)
    gn = np.hypot(ux, uy)
    ap = 0.01 * gn.mean(axis=(1, 2))
    rho = 1 + gn / ap[:, None, None]
    sig = rho.mean(axis=(1, 2))
    xi = rng.uniform(0, 1, (2, 30, 2))
    xb, nb = A.boundary_points(4)
    t = lambda a: torch.tensor(a, dtype=torch.float32)  # noqa: E731
    loss = A.dmm_loss(model, t(f), t(ux), t(uy), t(ap), t(sig), t(xi), t(np.stack([xb, xb])), t(np.stack([nb, nb])))
    # rho at x(xi) = xi from the bilinearly interpolated gradient components (spec 42)
    g = np.hypot(A.bilinear_periodic_np(ux, xi), A.bilinear_periodic_np(uy, xi))
    expected = np.mean(((1 + g / ap[:, None]) / sig[:, None] - 1) ** 2)
    np.testing.assert_allclose(loss.item(), expected, rtol=1e-4)


def test_importance_points_prefer_high_density():
    rho = np.ones((1, 16, 16))
    rho[0, :8] = 20.0  # x < 1/2 carries 20x the density
    pts = A.importance_points(np.random.default_rng(0), rho, 100, 4000)
    assert (pts[0, :, 0] < 0.5).mean() > 0.8


# -- config --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [dict(methods=["dmm"]), dict(n_side=[1]), dict(M_gen=100), dict(ot_eps=0.5),
                                 dict(test_frames=[40])])
def test_bad_parameters_are_rejected(bad):
    with pytest.raises(ValueError):
        MeshMoverInterpConfig(**bad)


def test_bad_parameters_exit_through_config_error(tmp_path):
    with pytest.raises(ConfigError):
        boundrun.run("mesh-mover-interp", profile="smoke", out=str(tmp_path), n_side=[1])


# -- runs and negative controls --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    return boundrun.run("mesh-mover-interp", profile="smoke", out=str(tmp_path_factory.mktemp("mm")))


def status(res, name):
    return res.claims.set_index("claim").loc[name, "status"]


def evaluate(name, results, bounds=None, profile="default"):
    b = bounds if bounds is not None else pd.DataFrame(columns=["bound", "side", "constant", "N", "metric", "value"])
    return CLAIM[name].evaluate(results, b, "N", profile).status


def test_smoke_decides_the_ot_parts_and_leaves_dmm_kendall_and_rate_inconclusive(smoke):
    for name in ("V1_no_inverted_ot", "V2_error_ot", "V3_B1_ot"):
        assert status(smoke, name) == "pass", smoke.claims
    for name in ("V1_no_inverted_dmm", "V1_equidistribution_dmm", "V2_error_dmm", "V3_B1_dmm", "V3_B2_dmm",
                 "V3_kendall_B1", "V4_rate_uniform", "V4_dmm_below_uniform"):
        assert status(smoke, name) == "inconclusive", smoke.claims


def perturbed(results, metric, method, fn):
    r = results.copy()
    sel = (r["metric"] == metric) & (r["method"] == method)
    r.loc[sel, "value"] = fn(r.loc[sel, "value"])
    return r


def test_ot_claims_fail_on_perturbed_smoke_frames(smoke):
    r = smoke.results
    assert evaluate("V1_no_inverted_ot", perturbed(r, "inverted", "ot", lambda v: v + 1)) == "fail"
    for name, metric in (("V2_error_ot", "win_L2"), ("V3_B1_ot", "win_B1"), ("V3_B2_ot", "win_B2")):
        assert evaluate(name, perturbed(r, metric, "ot", lambda v: 0 * v)) == "fail"
    assert evaluate("V1_equidistribution_ot", perturbed(r, "eq_std", "ot", lambda v: 10 * v)) == "fail"


def synthetic(n_fields=6):
    """Frames of a run where DMM works as claimed: E ~ N^-1, DMM 0.6x uniform, equidistributed, no folds."""
    rows = []
    for s in range(n_fields):
        for N in (100, 400, 1600):
            e_u = (1 + 0.05 * s) / N
            for m, fac in (("uniform", 1.0), ("dmm", 0.6), ("deboor", 0.8)):
                rows += [(m, N, s, "E_L2", fac * e_u), (m, N, s, "B1", fac * e_u * 10), (m, N, s, "eq_std", fac**3),
                         (m, N, s, "inverted", 0.0)]
                if m != "uniform":
                    rows += [(m, N, s, f"win_{q}", 1.0) for q in ("L2", "B1", "B2")]
            rows += [("all", N, s, "kendall_B1", 1.0), ("all", N, s, "kendall_B2", 1.0)]
    return pd.DataFrame(rows, columns=["method", "N", "seed", "metric", "value"])


DMM_CONTROLS = [
    ("V1_no_inverted_dmm", "inverted", "dmm", lambda v: v + 2),
    ("V1_equidistribution_dmm", "eq_std", "dmm", lambda v: 4 * v),
    ("V2_error_dmm", "win_L2", "dmm", lambda v: 0 * v),
    ("V3_B1_dmm", "win_B1", "dmm", lambda v: 0 * v),
    ("V3_B2_dmm", "win_B2", "dmm", lambda v: 0 * v),
    ("V3_kendall_B1", "kendall_B1", "all", lambda v: 0 * v - 1),
    ("V3_kendall_B2", "kendall_B2", "all", lambda v: 0 * v - 1),
    ("V4_dmm_below_uniform", "E_L2", "dmm", lambda v: 3 * v),
]


@pytest.mark.parametrize(("name", "metric", "method", "fn"), DMM_CONTROLS)
def test_dmm_claims_pass_on_good_frames_and_fail_on_broken_ones(name, metric, method, fn):
    good = synthetic()
    assert evaluate(name, good) == "pass"
    assert evaluate(name, perturbed(good, metric, method, fn)) == "fail"


@pytest.mark.parametrize("name", ["V4_rate_uniform", "V4_rate_dmm"])
def test_rate_claims_fail_when_the_error_stops_falling(name):
    good = synthetic()
    method = "uniform" if name.endswith("uniform") else "dmm"
    assert evaluate(name, good) == "pass"
    flat = good.copy()
    sel = (flat["metric"] == "E_L2") & (flat["method"] == method)
    flat.loc[sel, "value"] = flat.loc[sel, "value"] * flat.loc[sel, "N"] / 100  # N^-1 -> flat
    assert evaluate(name, flat) == "fail"


def test_kendall_claim_is_inconclusive_in_smoke_even_on_good_frames():
    c = dataclasses.replace(CLAIM["V3_kendall_B1"])
    assert c.evaluate(synthetic(), pd.DataFrame(), "N", "smoke").status == "inconclusive"


def test_bounds_are_fitted_on_the_uniform_mesh_at_the_smallest_n(smoke):
    b = smoke.bounds
    r = smoke.results
    mean = r[(r["method"] == "uniform") & (r["metric"] == "E_L2")]["value"].mean()
    fitted = b[(b["bound"] == "C*B1 uniform") & (b["N"] == 100)]["value"].item()
    np.testing.assert_allclose(fitted, mean, rtol=1e-10)
