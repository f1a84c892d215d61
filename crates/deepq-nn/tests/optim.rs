//! Optimizer updates against PyTorch.
//!
//! The constants below were produced by `tests/reference/torch_optim.py` with PyTorch 2.15.0
//! (CPU, float64): each optimizer starts from `P0` and receives the gradients `GRADS`, one
//! per step; row `t` is the parameter vector after step `t + 1`.

use deepq_nn::{Optimizer, OptimizerConfig};

const P0: [f64; 5] = [0.5, -1.25, 2.0, 0.0, -0.03125];
const GRADS: [[f64; 5]; 4] = [
    [0.1, -0.2, 0.3, -0.4, 0.5],
    [-0.3, 0.25, 0.05, 1.5, -0.75],
    [0.2, 0.0, -0.6, 0.125, 2.0],
    [1.0, -1.0, 0.5, -0.5, 0.01],
];

const ADAM: [[f64; 5]; 4] = [
    [
        0.400000009999999,
        -1.1500000049999999,
        1.9000000033333333,
        0.09999999750000005,
        -0.13124999800000003,
    ],
    [
        0.44941899112006545,
        -1.1662732304481742,
        1.821667272150606,
        0.04535334806407503,
        -0.10647981677517315,
    ],
    [
        0.44754022176593455,
        -1.1788524807594494,
        1.851302413110194,
        -0.0018820763028905077,
        -0.15686267681818777,
    ],
    [
        0.3925677059830044,
        -1.1266392191302674,
        1.836097437281905,
        -0.020938824293157396,
        -0.19839788264986313,
    ],
];
const ADAM_WD: [[f64; 5]; 4] = [
    [
        0.45033112582781454,
        -1.2001533742331287,
        1.9500998003992016,
        0.04987531172069825,
        -0.08114957318604067,
    ],
    [
        0.4681474206424904,
        -1.1855941191698127,
        1.904638332986009,
        0.020074162112180344,
        -0.06556092117960875,
    ],
    [
        0.45543008251288186,
        -1.1642464892032325,
        1.8991799843775237,
        -0.004326840245354173,
        -0.09306548600232359,
    ],
    [
        0.4205561507207273,
        -1.127251204150331,
        1.8724046289686258,
        -0.011756018447213606,
        -0.11412760387499343,
    ],
];
const ADAMW: [[f64; 5]; 4] = [
    [
        0.399500009999999,
        -1.1487500049999997,
        1.8980000033333333,
        0.09999999750000005,
        -0.13121874800000002,
    ],
    [
        0.44851949111006545,
        -1.163874480443174,
        1.8177692721472727,
        0.04525334806657503,
        -0.10631734802717313,
    ],
    [
        0.4461922022648245,
        -1.175289856274006,
        1.8455866438347135,
        -0.002027329648457088,
        -0.15659389072216057,
    ],
    [
        0.3907734942796295,
        -1.12190130478855,
        1.8285360813625897,
        -0.02108205030907552,
        -0.19797250266311373,
    ],
];
const ADAMW_WD: [[f64; 5]; 4] = [
    [
        0.43754995004995006,
        -1.168774987506247,
        1.9000166611129623,
        0.04998750312421894,
        -0.08045875199960008,
    ],
    [
        0.4720848081564517,
        -1.1716366381032668,
        1.8268429777821782,
        0.0014573463636551945,
        -0.042607781022896134,
    ],
    [
        0.44067958787879197,
        -1.1536758622723833,
        1.831249812490764,
        -0.020242541514514947,
        -0.09120473167132909,
    ],
    [
        0.3655261463236769,
        -1.0629498152267767,
        1.7583045540601605,
        -0.004824447721836699,
        -0.10659608502073428,
    ],
];
const NADAM: [[f64; 5]; 4] = [
    [
        0.39435483272897787,
        -1.1443548274467197,
        1.894354825685967,
        0.10564517519440945,
        -0.1368951757226353,
    ],
    [
        0.4915017540478038,
        -1.222031202357411,
        1.8709458875914655,
        0.006296506315736221,
        -0.05343150594613587,
    ],
    [
        0.4352601947575556,
        -1.2236319932180282,
        1.9681501062223854,
        -0.008124563654236812,
        -0.15533420457537409,
    ],
    [
        0.31927442942751616,
        -1.1062717246981355,
        1.8973765123108337,
        0.02392024250757145,
        -0.1624110184307214,
    ],
];
const NADAM_WD: [[f64; 5]; 4] = [
    [
        0.4461682360847676,
        -1.1960190349652686,
        1.9459762540451269,
        0.05396600771551982,
        -0.08524157271412179,
    ],
    [
        0.4821095119536806,
        -1.1928428711582557,
        1.9133670038626394,
        0.0034706061270854283,
        -0.042500993002660525,
    ],
    [
        0.441449176034157,
        -1.161352305115864,
        1.921935565939487,
        -0.005144971944812721,
        -0.0936202261320214,
    ],
    [
        0.38276267195174035,
        -1.1019447259097281,
        1.8733932609676924,
        0.010200638428764277,
        -0.09802445879763337,
    ],
];
const RMSPROP: [[f64; 5]; 4] = [
    [
        0.40000009999990005,
        -1.150000049999975,
        1.9000000333333222,
        0.0999999750000062,
        -0.13124998000000396,
    ],
    [
        0.49491586954512934,
        -1.2282397185047351,
        1.8834795737804584,
        0.0033443970998247446,
        -0.04791665592592889,
    ],
    [
        0.44125259215239343,
        -1.2282397185047351,
        1.9728543804959826,
        -0.004724416863715516,
        -0.13918568280324115,
    ],
    [
        0.34749164890563494,
        -1.1328964247004645,
        1.9129291012052225,
        0.026130717837344337,
        -0.13964432209618863,
    ],
];
const RMSPROP_CENTERED_MOMENTUM: [[f64; 5]; 4] = [
    [
        0.46674057649667405,
        -1.2167008196721312,
        1.966688874083944,
        0.03330557868442965,
        -0.06456098634040058,
    ],
    [
        0.46790468573556937,
        -1.202350736327607,
        1.9240379902438958,
        0.028426375198555242,
        -0.06421788177489889,
    ],
    [
        0.447607519692462,
        -1.1792935532428865,
        1.9098298734357244,
        0.021697388542726254,
        -0.09400983014967353,
    ],
    [
        0.3995529329797265,
        -1.1281519916715403,
        1.8737244097127836,
        0.026973617965551415,
        -0.11785288012416203,
    ],
];
const RMSPROP_MOMENTUM: [[f64; 5]; 4] = [
    [
        0.47171573275253753,
        -1.221715730752538,
        1.9717157300858714,
        0.028284270247461933,
        -0.05953427044746192,
    ],
    [
        0.4851034859301159,
        -1.2321918931125524,
        1.9510847387046293,
        0.01463194235197886,
        -0.048092320144883266,
    ],
    [
        0.47267370568384043,
        -1.2374299742925596,
        1.9681642893742979,
        0.004551917279699618,
        -0.06951339055918035,
    ],
    [
        0.4387736743356969,
        -1.2120519898004232,
        1.9554292751453832,
        0.01493937007635485,
        -0.08041584459231223,
    ],
];
const RMSPROP_CENTERED: [[f64; 5]; 4] = [
    [
        0.29899263896815664,
        -1.048992537958208,
        1.7989925042882025,
        0.2010075125468045,
        -0.23225752264781002,
    ],
    [
        0.48920919919561306,
        -1.2054925999460437,
        1.7657322576772958,
        0.007205348677361528,
        -0.06552393606116555,
    ],
    [
        0.3818826404690683,
        -1.2054925999460437,
        1.9446124556469084,
        -0.00898238576477282,
        -0.24864522955147886,
    ],
    [
        0.19352934474809233,
        -1.0140205748432447,
        1.8247097321829753,
        0.05278649744797369,
        -0.24956544328610666,
    ],
];
const SGD: [[f64; 5]; 4] = [
    [0.49, -1.23, 1.97, 0.04000000000000001, -0.08125],
    [0.52, -1.255, 1.965, -0.11, -0.006249999999999999],
    [0.5, -1.255, 2.025, -0.1225, -0.20625000000000002],
    [
        0.4,
        -1.1549999999999998,
        1.9749999999999999,
        -0.0725,
        -0.20725000000000002,
    ],
];
const SGD_MOMENTUM_DAMPENING_WD: [[f64; 5]; 4] = [
    [0.4875, -1.22375, 1.96, 0.04000000000000001, -0.08109375],
    [
        0.49554375,
        -1.2133418749999998,
        1.91364,
        -0.029139999999999985,
        -0.07316929687500001,
    ],
    [
        0.487048721875,
        -1.1997278659374997,
        1.90721826,
        -0.10001400999999997,
        -0.20578119652343752,
    ],
    [
        0.4076985260359375,
        -1.1132762102504685,
        1.8597634300900001,
        -0.12845056996499998,
        -0.3251116720191992,
    ],
];
const SGD_NESTEROV: [[f64; 5]; 4] = [
    [0.48215, -1.213875, 1.9456, 0.068, -0.116196875],
    [
        0.527185345,
        -1.2438989125,
        1.91811248,
        -0.16751560000000001,
        -0.012984027812500009,
    ],
    [
        0.5031513764135,
        -1.24615073559875,
        2.002472344784,
        -0.24829414348,
        -0.3332942997464688,
    ],
    [
        0.3298412708045471,
        -1.076479284756107,
        1.9324627258826672,
        -0.210784284792084,
        -0.4186539786101467,
    ],
];

/// Runs `config` over `GRADS` in `T`, comparing each step with `expected` to a relative
/// tolerance `rtol` (plus an absolute floor of `rtol` for entries near zero).
fn check<T: deepq_nn::Scalar>(config: OptimizerConfig, expected: &[[f64; 5]; 4], rtol: f64) {
    let mut params: Vec<T> = P0.iter().map(|&x| T::from_f64(x)).collect();
    let mut opt = Optimizer::<T>::new(config.clone(), params.len());
    for (step, (grads, want)) in GRADS.iter().zip(expected).enumerate() {
        let grads: Vec<T> = grads.iter().map(|&x| T::from_f64(x)).collect();
        opt.step(&mut params, &grads);
        for (i, (&got, &want)) in params.iter().zip(want).enumerate() {
            let got = got.to_f64();
            assert!(
                (got - want).abs() <= rtol * want.abs().max(1.0),
                "{config:?} step {} param {i}: got {got:e}, PyTorch {want:e}",
                step + 1
            );
        }
    }
    assert_eq!(opt.steps(), 4);
}

/// f64 runs must match PyTorch's float64 to within a few rounding errors: the only
/// differences are PyTorch's fused multiply-adds in `add(alpha=…)` and `lerp`, each worth
/// at most one rounding of an O(1) quantity per step (~1e-16), and 1e-13 leaves ample room
/// over four steps while any formula slip (a missing bias correction, a swapped order)
/// shows up at 1e-3 or more.
const F64_RTOL: f64 = 1e-13;
/// f32 runs differ from the float64 reference by f32 rounding (~6e-8 relative per
/// operation, a few dozen operations per step), amplified where Adam divides by a small
/// `sqrt(v)`; 2e-5 bounds that with margin.
const F32_RTOL: f64 = 2e-5;

fn check_both(config: OptimizerConfig, expected: &[[f64; 5]; 4]) {
    check::<f64>(config.clone(), expected, F64_RTOL);
    check::<f32>(config, expected, F32_RTOL);
}

#[test]
fn adam_defaults() {
    check_both(OptimizerConfig::adam(0.1), &ADAM);
}

#[test]
fn adam_with_l2_penalty() {
    let config = OptimizerConfig::Adam {
        lr: 0.05,
        beta1: 0.8,
        beta2: 0.99,
        eps: 1e-3,
        weight_decay: 0.1,
    };
    check_both(config, &ADAM_WD);
}

#[test]
fn adamw_defaults() {
    check_both(OptimizerConfig::adamw(0.1), &ADAMW);
}

#[test]
fn adamw_with_large_beta_weight() {
    // beta1 = 0.3 makes lerp's weight 0.7 ≥ 0.5, PyTorch's other lerp formula.
    let config = OptimizerConfig::AdamW {
        lr: 0.05,
        beta1: 0.3,
        beta2: 0.9,
        eps: 1e-4,
        weight_decay: 0.5,
    };
    check_both(config, &ADAMW_WD);
}

#[test]
fn nadam_defaults() {
    check_both(OptimizerConfig::nadam(0.1), &NADAM);
}

#[test]
fn nadam_with_penalty_and_fast_momentum_schedule() {
    let config = OptimizerConfig::NAdam {
        lr: 0.05,
        beta1: 0.85,
        beta2: 0.95,
        eps: 1e-3,
        weight_decay: 0.2,
        momentum_decay: 0.5,
    };
    check_both(config, &NADAM_WD);
}

#[test]
fn rmsprop_defaults() {
    check_both(OptimizerConfig::rmsprop(0.01), &RMSPROP);
}

#[test]
fn rmsprop_centered_with_momentum_and_penalty() {
    let config = OptimizerConfig::RmsProp {
        lr: 0.01,
        alpha: 0.9,
        eps: 1e-4,
        weight_decay: 0.1,
        momentum: 0.8,
        centered: true,
    };
    check_both(config, &RMSPROP_CENTERED_MOMENTUM);
}

#[test]
fn rmsprop_momentum() {
    let config = OptimizerConfig::RmsProp {
        lr: 0.02,
        alpha: 0.5,
        eps: 1e-8,
        weight_decay: 0.0,
        momentum: 0.5,
        centered: false,
    };
    check_both(config, &RMSPROP_MOMENTUM);
}

#[test]
fn rmsprop_centered() {
    let config = OptimizerConfig::RmsProp {
        lr: 0.02,
        alpha: 0.99,
        eps: 1e-8,
        weight_decay: 0.0,
        momentum: 0.0,
        centered: true,
    };
    check_both(config, &RMSPROP_CENTERED);
}

#[test]
fn sgd_plain() {
    check_both(OptimizerConfig::sgd(0.1), &SGD);
}

#[test]
fn sgd_momentum_dampening_penalty() {
    let config = OptimizerConfig::Sgd {
        lr: 0.1,
        momentum: 0.9,
        dampening: 0.3,
        weight_decay: 0.05,
        nesterov: false,
    };
    check_both(config, &SGD_MOMENTUM_DAMPENING_WD);
}

#[test]
fn sgd_nesterov() {
    let config = OptimizerConfig::Sgd {
        lr: 0.1,
        momentum: 0.7,
        dampening: 0.0,
        weight_decay: 0.01,
        nesterov: true,
    };
    check_both(config, &SGD_NESTEROV);
}

/// Adam's first two steps worked out by hand from PyTorch's formulas, independently of the
/// recorded trajectories: with a constant gradient g, m_t = (1 − β1^t)·g and
/// v_t = (1 − β2^t)·g², so every step moves p by −lr·g/(|g| + eps·…) ≈ −lr·sign(g).
#[test]
fn adam_constant_gradient_moves_by_lr() {
    let mut params = vec![1.0f64, -2.0];
    let grads = [0.5f64, -4.0];
    let mut opt = Optimizer::new(OptimizerConfig::adam(0.01), 2);
    for step in 1..=3 {
        opt.step(&mut params, &grads);
        for (i, (&p, &g)) in params.iter().zip(&grads).enumerate() {
            let p0 = [1.0, -2.0][i];
            // denom = |g|·sqrt(bc2)/sqrt(bc2) + eps; step = lr/bc1 · bc1·g / denom.
            let per_step = 0.01 * g / (g.abs() + 1e-8);
            let want = p0 - step as f64 * per_step;
            assert!((p - want).abs() < 1e-14, "step {step}: {p} vs {want}");
        }
    }
}

#[test]
fn set_lr_changes_later_steps() {
    let mut a = vec![1.0f64];
    let mut opt = Optimizer::new(OptimizerConfig::sgd(0.1), 1);
    opt.step(&mut a, &[1.0]);
    opt.set_lr(0.5);
    assert_eq!(opt.lr(), 0.5);
    assert_eq!(opt.config().lr(), 0.5);
    opt.step(&mut a, &[1.0]);
    assert_eq!(a[0], 1.0 - 0.1 - 0.5);
}

#[test]
fn checkpoint_resumes_bit_identically() {
    let config = OptimizerConfig::nadam(0.01);
    let mut p1: Vec<f32> = P0.iter().map(|&x| x as f32).collect();
    let mut opt = Optimizer::<f32>::new(config, p1.len());
    let grads: Vec<Vec<f32>> = GRADS
        .iter()
        .map(|g| g.iter().map(|&x| x as f32).collect())
        .collect();
    opt.step(&mut p1, &grads[0]);
    let json = serde_json::to_string(&opt).unwrap();
    let mut resumed: Optimizer<f32> = serde_json::from_str(&json).unwrap();
    let mut p2 = p1.clone();
    for g in &grads[1..] {
        opt.step(&mut p1, g);
        resumed.step(&mut p2, g);
    }
    assert_eq!(p1, p2);
}

#[test]
fn invalid_configs_are_rejected() {
    let nesterov_without_momentum = OptimizerConfig::Sgd {
        lr: 0.1,
        momentum: 0.0,
        dampening: 0.0,
        weight_decay: 0.0,
        nesterov: true,
    };
    assert!(nesterov_without_momentum.validate().is_err());
    let bad_beta = OptimizerConfig::Adam {
        lr: 0.1,
        beta1: 1.0,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 0.0,
    };
    assert!(bad_beta.validate().is_err());
    assert!(OptimizerConfig::rmsprop(-1.0).validate().is_err());
    assert!(OptimizerConfig::adamw(1e-3).validate().is_ok());
}

#[test]
fn constructors_use_pytorch_defaults() {
    assert_eq!(
        OptimizerConfig::adamw(1e-3),
        OptimizerConfig::AdamW {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01
        }
    );
    assert_eq!(
        OptimizerConfig::rmsprop(1e-2),
        OptimizerConfig::RmsProp {
            lr: 1e-2,
            alpha: 0.99,
            eps: 1e-8,
            weight_decay: 0.0,
            momentum: 0.0,
            centered: false
        }
    );
    match OptimizerConfig::nadam(2e-3) {
        OptimizerConfig::NAdam { momentum_decay, .. } => assert_eq!(momentum_decay, 4e-3),
        other => panic!("{other:?}"),
    }
}

/// RAdam written out from its definition (PyTorch's docs and `_single_tensor_radam`), in f64:
/// `m ← β₁m + (1−β₁)g`, `v ← β₂v + (1−β₂)g²`, `m̂ = m/(1−β₁ᵗ)`,
/// `ρ_t = ρ∞ − 2tβ₂ᵗ/(1−β₂ᵗ)` with `ρ∞ = 2/(1−β₂) − 1`; if `ρ_t > 5`,
/// `θ ← θ − lr·m̂·r_t·√(1−β₂ᵗ)/(√v + ε)` with `r_t = √((ρ_t−4)(ρ_t−2)ρ∞ / ((ρ∞−4)(ρ∞−2)ρ_t))`,
/// else `θ ← θ − lr·m̂`. The L2 penalty is added to the gradient first.
fn radam_reference(
    p0: &[f64],
    grads: &[Vec<f64>],
    (lr, beta1, beta2, eps, wd): (f64, f64, f64, f64, f64),
) -> Vec<Vec<f64>> {
    let mut p = p0.to_vec();
    let (mut m, mut v) = (vec![0.0; p.len()], vec![0.0; p.len()]);
    let rho_inf = 2.0 / (1.0 - beta2) - 1.0;
    let mut out = Vec::new();
    for (step, g) in grads.iter().enumerate() {
        let t = (step + 1) as f64;
        let rho_t = rho_inf - 2.0 * t * beta2.powf(t) / (1.0 - beta2.powf(t));
        for i in 0..p.len() {
            let g = g[i] + wd * p[i];
            m[i] = beta1 * m[i] + (1.0 - beta1) * g;
            v[i] = beta2 * v[i] + (1.0 - beta2) * g * g;
            let m_hat = m[i] / (1.0 - beta1.powf(t));
            if rho_t > 5.0 {
                let r = ((rho_t - 4.0) * (rho_t - 2.0) * rho_inf
                    / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t))
                    .sqrt();
                let adaptive = (1.0 - beta2.powf(t)).sqrt() / (v[i].sqrt() + eps);
                p[i] -= lr * m_hat * r * adaptive;
            } else {
                p[i] -= lr * m_hat;
            }
        }
        out.push(p.clone());
    }
    out
}

/// Twelve steps of RAdam against [`radam_reference`], in f64 and f32: steps 1–5 take the
/// un-rectified branch (ρ_t ≤ 5 with β₂ = 0.999), steps 6–12 the rectified one (with
/// β₂ = 0.99 the switch comes at the same step, 6, through a different ρ∞).
#[test]
fn radam_matches_its_definition_in_both_branches() {
    let steps = 12;
    let grads: Vec<Vec<f64>> = (0..steps)
        .map(|t| {
            (0..P0.len())
                .map(|i| ((t * 7 + i * 3) as f64 * 0.37).sin() * (1.0 + i as f64))
                .collect()
        })
        .collect();
    for (config, hyper) in [
        (OptimizerConfig::radam(1e-2), (1e-2, 0.9, 0.999, 1e-8, 0.0)),
        (
            OptimizerConfig::RAdam {
                lr: 0.05,
                beta1: 0.8,
                beta2: 0.99,
                eps: 1e-3,
                weight_decay: 0.1,
            },
            (0.05, 0.8, 0.99, 1e-3, 0.1),
        ),
    ] {
        let expected = radam_reference(&P0, &grads, hyper);
        // The rectified branch must move parameters differently from the un-rectified one.
        let beta2 = hyper.2;
        let rho =
            |t: f64| 2.0 / (1.0 - beta2) - 1.0 - 2.0 * t * beta2.powf(t) / (1.0 - beta2.powf(t));
        assert!(rho(5.0) <= 5.0 && rho(6.0) > 5.0, "{config:?}");
        for (rtol, f32_run) in [(F64_RTOL, false), (F32_RTOL, true)] {
            let mut p64 = P0.to_vec();
            let mut p32: Vec<f32> = P0.iter().map(|&x| x as f32).collect();
            let mut o64 = Optimizer::<f64>::new(config.clone(), P0.len());
            let mut o32 = Optimizer::<f32>::new(config.clone(), P0.len());
            for (t, (g, want)) in grads.iter().zip(&expected).enumerate() {
                let got: Vec<f64> = if f32_run {
                    let g: Vec<f32> = g.iter().map(|&x| x as f32).collect();
                    o32.step(&mut p32, &g);
                    p32.iter().map(|&x| x as f64).collect()
                } else {
                    o64.step(&mut p64, g);
                    p64.clone()
                };
                for (i, (&got, &want)) in got.iter().zip(want).enumerate() {
                    assert!(
                        (got - want).abs() <= rtol * want.abs().max(1.0),
                        "{config:?} f32={f32_run} step {} param {i}: got {got:e}, reference {want:e}",
                        t + 1
                    );
                }
            }
        }
    }
}

#[test]
fn radam_checkpoint_resumes_bit_identically_and_keeps_set_lr() {
    let mut p1: Vec<f32> = P0.iter().map(|&x| x as f32).collect();
    let mut opt = Optimizer::<f32>::new(OptimizerConfig::radam(0.01), p1.len());
    let grads: Vec<Vec<f32>> = (0..9)
        .map(|t| GRADS[t % 4].iter().map(|&x| x as f32).collect())
        .collect();
    for g in &grads[..4] {
        opt.step(&mut p1, g);
    }
    opt.set_lr(0.005);
    assert_eq!(opt.lr(), 0.005);
    let json = serde_json::to_string(&opt).unwrap();
    let mut resumed: Optimizer<f32> = serde_json::from_str(&json).unwrap();
    assert_eq!(resumed.steps(), 4);
    assert_eq!(resumed.lr(), 0.005);
    let mut p2 = p1.clone();
    // Across the switch to the rectified branch at step 6.
    for g in &grads[4..] {
        opt.step(&mut p1, g);
        resumed.step(&mut p2, g);
    }
    assert_eq!(p1, p2);
    // A state of the wrong shape is refused.
    let broken = json.replacen("\"exp_avg\":[", "\"exp_avg\":[1.0,", 1);
    assert!(serde_json::from_str::<Optimizer<f32>>(&broken).is_err());
}

#[test]
fn radam_defaults_and_validation() {
    assert_eq!(
        OptimizerConfig::radam(1e-3),
        OptimizerConfig::RAdam {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0
        }
    );
    assert_eq!(OptimizerConfig::radam(3e-4).lr(), 3e-4);
    assert!(OptimizerConfig::radam(1e-3).validate().is_ok());
    assert!(OptimizerConfig::radam(-1.0).validate().is_err());
    for (beta1, beta2, eps, weight_decay) in [
        (1.0, 0.999, 1e-8, 0.0),
        (0.9, -0.1, 1e-8, 0.0),
        (0.9, 0.999, -1.0, 0.0),
        (0.9, 0.999, 1e-8, -1.0),
    ] {
        let config = OptimizerConfig::RAdam {
            lr: 1e-3,
            beta1,
            beta2,
            eps,
            weight_decay,
        };
        assert!(config.validate().is_err(), "{config:?}");
    }
}
