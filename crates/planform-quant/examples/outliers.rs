//! Do a trained planner's activations have the outlier channels that SpinQuant's rotations
//! are meant to spread? For each linear input the quantizer sees (the residual-stream reads
//! and the down-projection input), over teacher-forced held-out sequences:
//!
//! - the outlier ratio: the largest channel RMS over the median channel RMS, and
//! - the kurtosis of the entries (3 for a Gaussian; LLM activations with massive outliers
//!   reach hundreds),
//!
//! averaged over the calls of a forward pass (every block and projection), without rotation
//! and with the random-sign Hadamard R1/R2 + online R4 of `hadamard+online`.
//!
//! ```text
//! cargo run --release -p planform-quant --example outliers -- CHECKPOINT DATASET [SEQUENCES]
//! ```

use std::sync::{Arc, Mutex};

use planform_model::{ActivationHook, Model, Site};
use planform_quant::QuantSpec;
use tch::{nn, Device, Kind, Tensor};

/// (outlier ratio, kurtosis) of each call, by site kind.
#[derive(Default)]
struct Stats {
    linear: Vec<(f64, f64)>,
    down: Vec<(f64, f64)>,
}

fn measure(x: &Tensor) -> (f64, f64) {
    let c = *x.size().last().expect("at least 1-d");
    let x = x.to_kind(Kind::Double).reshape([-1, c]);
    let rms = x
        .square()
        .mean_dim([0i64].as_slice(), false, Kind::Double)
        .sqrt();
    let ratio = rms.max().double_value(&[]) / rms.median().double_value(&[]).max(1e-12);
    let v = x.reshape([-1]);
    let z = (&v - v.mean(Kind::Double)) / v.std(true).double_value(&[]).max(1e-12);
    let kurt = z.pow_tensor_scalar(4).mean(Kind::Double).double_value(&[]);
    (ratio, kurt)
}

fn summary(v: &[(f64, f64)]) -> String {
    let n = v.len().max(1) as f64;
    let mean = |f: fn(&(f64, f64)) -> f64| v.iter().map(f).sum::<f64>() / n;
    let max = |f: fn(&(f64, f64)) -> f64| v.iter().map(f).fold(0.0, f64::max);
    format!(
        "{:.1} (max {:.1}) | {:.1} (max {:.1})",
        mean(|p| p.0),
        max(|p| p.0),
        mean(|p| p.1),
        max(|p| p.1)
    )
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (ck, data) = match (args.get(1), args.get(2)) {
        (Some(c), Some(d)) => (c.clone(), d.clone()),
        _ => return Err("usage: outliers CHECKPOINT DATASET [SEQUENCES]".into()),
    };
    let n: usize = args.get(3).map_or(Ok(128), |s| s.parse())?;
    tch::set_num_threads(1);
    let loaded = planform_model::load_model(std::path::Path::new(&ck), Device::Cpu)?;
    let cfg = planform_train::DataConfig {
        train_examples: Some(1),
        eval_examples: n,
        ..Default::default()
    };
    let td = planform_train::TrainData::load(std::path::Path::new(&data), &cfg)?;
    let seqs =
        planform_train::data::sequences_as_trained(&loaded.train_config, &td.test, &td.vocab)?;
    println!("| model | rotation | linear inputs: outlier ratio | kurtosis | down-projection input: outlier ratio | kurtosis |");
    println!("|---|---|---:|---:|---:|---:|");
    for rotation in ["none", "hadamard+online"] {
        let spec = QuantSpec {
            rotation: rotation.parse()?,
            ..QuantSpec::default()
        };
        let vs = nn::VarStore::new(Device::Cpu);
        let mut model: Model = spec.apply(&loaded.model, &vs)?;
        let inner = model_hook(&spec);
        let stats = Arc::new(Mutex::new(Stats::default()));
        let s2 = stats.clone();
        model.set_activation_hook(Some(ActivationHook::new(move |site, x| {
            let y = match &inner {
                Some(h) => h.call(site, x),
                None => x.shallow_clone(),
            };
            let mut st = s2.lock().expect("stats lock");
            match site {
                Site::LinearInput | Site::OutputInput => st.linear.push(measure(&y)),
                Site::DownInput => st.down.push(measure(&y)),
                _ => {}
            }
            y
        })));
        planform_quant::learn::heldout_loss(&model, &seqs)?;
        let st = stats.lock().expect("stats lock");
        println!(
            "| {} | {rotation} | {} | {} |",
            std::path::Path::new(&ck)
                .components()
                .rev()
                .nth(1)
                .map_or(ck.clone(), |c| c.as_os_str().to_string_lossy().into_owned()),
            summary(&st.linear),
            summary(&st.down)
        );
    }
    Ok(())
}

/// The spec's own hook (online R3/R4 in full precision), if it has one.
fn model_hook(spec: &QuantSpec) -> Option<ActivationHook> {
    let sim = spec.sim();
    (sim != planform_quant::sim::QuantSim::default()).then(|| sim.hook())
}
