"""PLAIN (Tahir, Svoboda, Rupp, arXiv 2503.21242) as in the authors' MATLAB code, the scenario of their
main.m in the frequency domain, and our baselines (sequential root-MUSIC, joint on-grid 3-D FFT).

Notation follows the code: tensor H[r, k, n] over space r (antennas), frequency k (subcarriers), time n
(OFDM symbols), factor matrices A (angle), D (range), V (velocity), compression factors Delta = (D1, D2, D3).
Tensors carry a leading snapshot axis s (shape (S, N1, N2, N3)), as in the authors' code.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

C = 299_792_458.0  # speed of light (m/s), MATLAB physconst('LightSpeed')
COMPRESSIONS = ("none", "decimation", "averaging", "decimation2", "smoothing")
FUSIONS = ("tensor_omp", "tensor_ls")


@dataclass(frozen=True)
class Scenario:
    fc: float  # carrier (Hz)
    N_R: int  # antennas
    K: int  # subcarriers
    N: int  # OFDM symbols
    df: float  # subcarrier spacing (Hz)
    fft_size: float  # FFT size (main.m: 1.25 K)
    theta: np.ndarray  # angles (deg)
    dist: np.ndarray  # distances (m), delays on the sampling grid
    v: np.ndarray  # radial speeds (m/s)
    PL: np.ndarray  # path loss (dB), 3GPP UMa LOS

    @property
    def lam(self) -> float:
        return C / self.fc

    @property
    def d(self) -> float:  # half-wavelength array
        return self.lam / 2

    @property
    def Ts(self) -> float:  # OFDM symbol spacing 1/df + CP, CP = 1/(14 df)
        return 1 / self.df + 1 / (14 * self.df)

    @property
    def P(self) -> int:
        return len(self.theta)


def make_scenario(fc: float, N_R: int, K: int, N: int, df: float, fft_factor: float, theta_deg, dist_m, speed_kmh,
                  round_delay: bool = True) -> Scenario:
    """main.m / Channel.m: delays rounded to the sampling grid T_smp = 1/(fft_size df), speeds km/h -> m/s."""
    fft_size = fft_factor * K
    dist = np.asarray(dist_m, dtype=float)
    if round_delay:
        T_smp = 1 / (fft_size * df)
        dist = T_smp * np.round(dist / C / T_smp) * C
    PL = 28 + 22 * np.log10(dist) + 20 * np.log10(fc / 1e9) + 4 * 0.74
    return Scenario(fc, N_R, K, N, df, fft_size, np.asarray(theta_deg, dtype=float), dist,
                    np.asarray(speed_kmh, dtype=float) / 3.6, PL)


def factors(sc: Scenario, theta, dist, v, shape=None, deltas=(1, 1, 1)):
    """Steering matrices (columns = objects) at the (compressed) sample spacing Delta."""
    N1, N2, N3 = shape or (sc.N_R, sc.K, sc.N)
    r, k, n = np.arange(N1)[:, None], np.arange(N2)[:, None], np.arange(N3)[:, None]
    th = np.deg2rad(np.asarray(theta, dtype=float))[None]
    A = np.exp(1j * 2 * np.pi * (sc.d / sc.lam) * deltas[0] * r * np.cos(th))
    D = np.exp(-1j * 2 * np.pi * sc.df * deltas[1] * k * np.asarray(dist, dtype=float)[None] / C)
    V = np.exp(1j * 2 * np.pi * sc.Ts * deltas[2] * n * sc.fc * np.asarray(v, dtype=float)[None] / C)
    return A, D, V


def derivative_factors(sc: Scenario, A: np.ndarray, D: np.ndarray, V: np.ndarray):
    """dA/dtheta (per degree), dD/ddist (per metre), dV/dv (per m/s), columnwise (spec, calcCRBTensor inputs)."""
    r, k, n = np.arange(A.shape[0])[:, None], np.arange(D.shape[0])[:, None], np.arange(V.shape[0])[:, None]
    th = np.deg2rad(sc.theta)[None]
    dA = (-1j * 2 * np.pi * (sc.d / sc.lam) * r * np.sin(th) * np.pi / 180) * A
    dD = (-1j * 2 * np.pi * sc.df * k / C) * D
    dV = (1j * 2 * np.pi * sc.Ts * n * sc.fc / C) * V
    return dA, dD, dV


def gains(sc: Scenario, phi: np.ndarray, snr_db: float) -> np.ndarray:
    """beta_p = e^{j phi_p} sqrt(10^{-PL_p/10}), scaled so that sum |beta|^2 = 10^{SNR/10} (sigma^2 = 1)."""
    b = np.exp(1j * phi) * np.sqrt(10 ** (-sc.PL / 10))
    return b * np.sqrt(10 ** (snr_db / 10) / np.sum(np.abs(b) ** 2))


def noiseless(A: np.ndarray, D: np.ndarray, V: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """sum_p beta_p a_p o d_p o v_p, shape (N1, N2, N3)."""
    return np.einsum("rp,kp,np->rkn", A * beta, D, V, optimize=True)


def cn(rng: np.random.Generator, shape) -> np.ndarray:
    """CN(0, 1) samples."""
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / np.sqrt(2)


# -- 1. compression ----------------------------------------------------------------------------------------------

def compress(H: np.ndarray, method: str, deltas, rng: np.random.Generator | None = None):
    """PLAIN.compress: returns the (S, n1, n2, n3) tensor and the effective sample spacing."""
    d1, d2, d3 = deltas
    _, N1, N2, N3 = H.shape
    if method == "none":
        return H, (1, 1, 1)
    if method == "decimation":
        return H[:, ::d1, ::d2, ::d3], tuple(deltas)
    if method == "averaging":  # mode-m products with the block-averaging matrices
        S = H.shape[0]
        Hc = H.reshape(S, N1 // d1, d1, N2 // d2, d2, N3 // d3, d3).mean(axis=(2, 4, 6))
        return Hc, tuple(deltas)
    if method == "decimation2":  # random shifts of the decimation grid as pseudo-snapshots (<= 100)
        n_vs = min(d1 * d2 * d3, 100)
        pick = rng.permutation(d1 * d2 * d3)[:n_vs]
        i1, i2, i3 = np.unravel_index(pick, (d1, d2, d3))
        Hc = np.stack([H[0, a::d1, b::d2, c::d3] for a, b, c in zip(i1, i2, i3, strict=True)])
        return Hc, tuple(deltas)
    if method == "smoothing":  # sub-tensors of size N/Delta at unit spacing; shifts skip (1, 10, 30) as in the code
        n1, n2, n3 = N1 // d1, N2 // d2, N3 // d3
        subs = [H[0, a:a + n1, b:b + n2, c:c + n3] for a in range(0, N1 - n1 + 1, 1)
                for b in range(0, N2 - n2 + 1, 10) for c in range(0, N3 - n3 + 1, 30)]
        return np.stack(subs), (1, 1, 1)
    raise ValueError(f"unknown compression {method!r}")


# -- 2. decoupled 1-D estimation ---------------------------------------------------------------------------------

def unfold(H: np.ndarray, mode: int) -> np.ndarray:
    """Rows = the dimension `mode` (1, 2, 3), columns = every other index including snapshots."""
    return np.moveaxis(H, mode, 0).reshape(H.shape[mode], -1)


def aic(lam: np.ndarray, n_samples: int) -> int:
    """calcAIC: argmin over n_A = 1..N-1 of n_samples [(N-n_A) log mean(lam_small) - sum log lam_small] + nPara.
    Logs of |lam| (the code takes the real part of complex logs of tiny negative eigenvalues)."""
    N = len(lam)
    lam = np.maximum(np.abs(lam), 1e-300)
    IC = np.empty(N - 1)
    for nA in range(1, N):
        small = lam[nA:]
        IC[nA - 1] = n_samples * ((N - nA) * np.log(small.mean()) - np.log(small).sum()) + 1 + nA * (2 * N - nA)
    return int(np.argmin(IC)) + 1


def roots_near_circle(c: np.ndarray, n: int, exact_max_degree: int = 300) -> np.ndarray:
    """The n roots inside (or on) the unit circle closest to it of the conjugate-reciprocal polynomial c
    (highest power first). Up to degree `exact_max_degree` all roots by np.roots (the authors' `roots`);
    above it (np.roots costs O(deg^3): 17 s at degree 1118), Newton's method on c from the deepest minima of
    |c(e^{jw})| on a fine grid, mapping a root outside to its partner 1/conj(z) (roots come in such pairs)."""
    deg = len(c) - 1
    if deg <= exact_max_degree:
        z = np.roots(c)
    else:
        M = 16 * (deg + 1)
        vals = np.abs(np.fft.fft(c[::-1], M))  # fft of the coefficients of z^0, z^1...: c(z) at z = e^{-j 2 pi m / M}
        w = -2 * np.pi * np.arange(M) / M
        is_min = (vals <= np.roll(vals, 1)) & (vals <= np.roll(vals, -1))
        idx = np.flatnonzero(is_min)
        idx = idx[np.argsort(vals[idx])][: 3 * n + 4]
        dc = np.polyder(c)
        found = []
        for i in idx:
            zz = np.exp(1j * w[i]) * (1 - 1e-3)
            for _ in range(60):
                step = np.polyval(c, zz) / np.polyval(dc, zz)
                zz = zz - step
                if abs(step) < 1e-13:
                    break
            if abs(zz) > 1:
                zz = 1 / np.conj(zz)
            if all(abs(zz - f) > 1e-8 for f in found):
                found.append(zz)
        z = np.asarray(found)
    z = z[np.abs(z) <= 1]
    return z[np.argsort(np.abs(1 - np.abs(z)), kind="stable")][:n]


def ode_music(Y: np.ndarray, use_true: int, n_true: int) -> np.ndarray:
    """ODE_MUSIC: covariance of the unfolding, scaled by max|R|, forward-backward averaged, model order by
    AIC (or the true one if use_true == 2), root-MUSIC on the signal subspace; returns the spatial
    frequencies w = angle(z) of the chosen roots."""
    N, cols = Y.shape
    R = Y @ Y.conj().T / cols
    R = R / np.abs(R).max()
    R = 0.5 * (R + np.flip(R.conj(), axis=(0, 1)))  # J conj(R) J
    lam, U = np.linalg.eigh(R)
    lam, U = lam[::-1], U[:, ::-1]
    n = aic(lam, cols) if use_true < 2 else n_true
    n = max(min(n, N - 1), 1)
    Us = U[:, :n]
    # sum_i conv(u_i, flip(conj(u_i))): coefficient of z^(N-1-l) is sum_i sum_m u_i[m] conj(u_i[m-l])
    zpoly = np.zeros(2 * N - 1, dtype=complex)
    for i in range(n):
        zpoly += np.convolve(Us[:, i], np.conj(Us[::-1, i]))
    zpoly[N - 1] -= N
    return np.angle(roots_near_circle(zpoly, n))


def to_angle(w: np.ndarray, sc: Scenario, d1: int) -> np.ndarray:
    return np.rad2deg(np.arccos(np.clip(w * sc.lam / (2 * np.pi * sc.d * d1), -1, 1)))


def to_range(w: np.ndarray, sc: Scenario, d2: int) -> np.ndarray:
    w = np.where(w > 0, w - 2 * np.pi, w)  # wrap to (-2 pi, 0]
    return -w * C / (2 * np.pi * sc.df * d2)


def to_speed(w: np.ndarray, sc: Scenario, d3: int) -> np.ndarray:
    return w * C / (2 * np.pi * d3 * sc.Ts * sc.fc)


# -- 3. input-based fusion ---------------------------------------------------------------------------------------

def mode_products(H: np.ndarray, mats) -> np.ndarray:
    """H x_1 M1 x_2 M2 x_3 M3 over the three non-snapshot modes."""
    for m, Mx in enumerate(mats, start=1):
        H = np.moveaxis(np.tensordot(Mx, H, axes=(1, m)), 0, m)
    return H


def tensor_omp(H: np.ndarray, A: np.ndarray, D: np.ndarray, V: np.ndarray, P: int):
    """TensorOMP: P times pick the candidate triple most correlated with the residual (energy summed over
    snapshots), refit the Tucker core on the unique selected columns by least squares, update the residual."""
    R = H
    I1, I2, I3 = [], [], []
    for _ in range(P):
        X = np.sum(np.abs(mode_products(R, (A.conj().T, D.conj().T, V.conj().T))) ** 2, axis=0)
        a, f, t = np.unravel_index(int(np.argmax(X)), X.shape)
        I1.append(a), I2.append(f), I3.append(t)
        u1, u2, u3 = np.unique(I1), np.unique(I2), np.unique(I3)
        As, Ds, Vs = A[:, u1], D[:, u2], V[:, u3]
        B = mode_products(H, (np.linalg.pinv(As), np.linalg.pinv(Ds), np.linalg.pinv(Vs)))
        R = H - mode_products(B, (As, Ds, Vs))
    return np.array(I1), np.array(I2), np.array(I3)


def tensor_ls(H: np.ndarray, A: np.ndarray, D: np.ndarray, V: np.ndarray, P: int):
    """TensorLS: one projection onto all candidates, keep the P largest core entries."""
    B = np.mean(np.abs(mode_products(H, (np.linalg.pinv(A), np.linalg.pinv(D), np.linalg.pinv(V)))) ** 2, axis=0)
    idx = np.argsort(B.ravel(), kind="stable")[::-1][:P]
    return np.unravel_index(idx, B.shape)


def plain(H: np.ndarray, sc: Scenario, compression: str, deltas, fusion: str, use_true: int,
          rng: np.random.Generator | None = None):
    """PLAIN.extractObjects on one (1, N1, N2, N3) tensor: (theta deg, dist m, v m/s) paired, length N_P_est."""
    Hc, dl = compress(H, compression, deltas, rng)
    P = sc.P
    th = to_angle(ode_music(unfold(Hc, 1), use_true, P), sc, dl[0])
    di = to_range(ode_music(unfold(Hc, 2), use_true, P), sc, dl[1])
    ve = to_speed(ode_music(unfold(Hc, 3), use_true, P), sc, dl[2])
    A, D, V = factors(sc, th, di, ve, Hc.shape[1:], dl)
    n_est = max(len(th), len(di), len(ve)) if use_true == 0 else P
    if fusion == "tensor_omp":
        a, f, t = tensor_omp(Hc, A, D, V, n_est)
    else:
        a, f, t = tensor_ls(Hc, A, D, V, n_est)
    return th[a], di[f], ve[t]


# -- our baselines -----------------------------------------------------------------------------------------------

def sequential(H: np.ndarray, sc: Scenario, compression: str, deltas):
    """Ours: P angles by root-MUSIC on the spatial unfolding; per angle a spatial matched filter, then 1-D
    root-MUSIC (one path) along frequency (time samples as snapshots) and along time (frequency as snapshots)."""
    Hc, dl = compress(H, compression, deltas)
    P = sc.P
    th = to_angle(ode_music(unfold(Hc, 1), 2, P), sc, dl[0])
    A = factors(sc, th, np.zeros(P), np.zeros(P), Hc.shape[1:], dl)[0]
    di, ve = np.empty(len(th)), np.empty(len(th))
    for p in range(len(th)):
        Yb = np.einsum("r,srkn->skn", A[:, p].conj() / A.shape[0], Hc)  # spatial matched filter
        di[p] = to_range(ode_music(unfold(Yb, 1), 2, 1), sc, dl[1])[0]
        ve[p] = to_speed(ode_music(unfold(Yb, 2), 2, 1), sc, dl[2])[0]
    return th, di, ve


def joint_fft(H: np.ndarray, sc: Scenario, compression: str, deltas, fft_size):
    """Ours: Hann-windowed (a 20 dB spread of path losses would otherwise hide the far objects under the
    near ones' -13 dB sidelobes), zero-padded 3-D FFT of the compressed tensor, the P largest local maxima
    (wrap-around neighbourhood 3x3x3), mapped to the grid's (angle, range, velocity)."""
    from scipy.ndimage import maximum_filter

    Hc, dl = compress(H, compression, deltas)
    w1, w2, w3 = (np.hanning(n + 2)[1:-1] for n in Hc.shape[1:])
    windowed = Hc[0] * w1[:, None, None] * w2[None, :, None] * w3[None, None, :]
    G = np.abs(np.fft.fftn(windowed, s=fft_size, axes=(0, 1, 2))) ** 2
    peaks = np.flatnonzero((G == maximum_filter(G, size=3, mode="wrap")).ravel())
    top = peaks[np.argsort(G.ravel()[peaks], kind="stable")[::-1][: sc.P]]
    i1, i2, i3 = np.unravel_index(top, G.shape)
    w = [2 * np.pi * i / n for i, n in zip((i1, i2, i3), fft_size, strict=True)]
    w1 = np.angle(np.exp(1j * w[0]))
    w3 = np.angle(np.exp(1j * w[2]))
    return to_angle(w1, sc, dl[0]), to_range(w[1], sc, dl[1]), to_speed(w3, sc, dl[2])


# -- error metric ------------------------------------------------------------------------------------------------

def paired_errors(est, sc: Scenario):
    """main.m: sort estimates and truth by angle, pair in order; squared errors (3, P) or None if the count
    differs from P."""
    th, di, ve = (np.asarray(x, dtype=float) for x in est)
    if len(th) != sc.P:
        return None
    i, j = np.argsort(th, kind="stable"), np.argsort(sc.theta, kind="stable")
    return np.stack([th[i] - sc.theta[j], di[i] - sc.dist[j], ve[i] - sc.v[j]]) ** 2


def half_spacings(sc: Scenario) -> np.ndarray:
    """Half the smallest gap between distinct true values per dimension (angle, distance, velocity)."""
    out = []
    for x in (sc.theta, sc.dist, sc.v):
        u = np.unique(np.round(x, 9))
        out.append(np.diff(u).min() / 2 if len(u) > 1 else np.inf)
    return np.array(out)
