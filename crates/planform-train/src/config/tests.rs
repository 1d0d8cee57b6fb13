use super::*;
use planform_model::{EncoderDecoderConfig, ModelSize};
use planform_optim::LrSchedule;

/// One override through the one override path (what `--set` does).
fn set(c: &mut TrainConfig, field: &str, value: &str) -> Result<()> {
    let o = Override::new(field, value).map_err(|e| TrainError::ConfigParse {
        origin: e.origin.clone(),
        message: e.message,
    })?;
    *c = c.with_overrides(&[o])?;
    Ok(())
}

const MINIMAL: &str = r#"
data_dir = "data/maze"
out_dir = "runs/x"
model = { size = "tiny" }
"#;

#[test]
fn minimal_config_gets_reference_defaults() {
    let c = TrainConfig::from_toml_str(MINIMAL, "test").unwrap();
    assert_eq!(c.model, ModelSpec::Size(ModelSize::Tiny));
    assert_eq!(c.trace, TraceConfig::SearchAugmented);
    assert_eq!(c.optim.betas, (0.9, 0.99));
    assert_eq!(c.optim.weight_decay, 0.01);
    assert_eq!(c.optim.eps, 1e-8);
    assert_eq!(c.optim.warmup_steps, WARMUP_AUTO);
    assert_eq!(c.optim.warmup(), 2000, "min(2000, 400000 / 10)");
    assert_eq!(c.optim.min_lr_ratio, 0.1);
    assert_eq!(c.optim.schedule, ScheduleKind::Cosine);
    assert_eq!(c.device, DeviceChoice::Auto);
    assert_eq!(c.precision, Precision::Fp32);
    assert_eq!(c.batch.accumulation, 1);
    // Round trip through TOML.
    let again = TrainConfig::from_toml_str(&c.to_toml().unwrap(), "round trip").unwrap();
    assert_eq!(again, c);
}

#[test]
fn full_config_parses() {
    let text = r#"
data_dir = "d"
out_dir = "o"
seed = 7
device = "cuda:1"
precision = "bf16-autocast"
threads = 2
[model.custom]
vocab_size = 118
encoder = { dim = 64, layers = 1, heads = 2 }
decoder = { dim = 64, layers = 1, heads = 2 }
[trace]
kind = "dualformer"
probabilities = [0.5, 0.1, 0.1, 0.1, 0.2]
level3 = "paper"
resample = "fixed-per-example"
[data]
train_examples = 50000
max_reasoning_len = 10000
subset = "file-order"
eval_examples = 64
[batch]
sequences = 8
max_tokens = 4096
accumulation = 4
order = { kind = "random" }
[optim]
lr = 7.5e-5
total_steps = 80000
schedule = "constant"
betas = [0.9, 0.95]
[log]
log_every = 10
keep_checkpoints = 2
"#;
    let c = TrainConfig::from_toml_str(text, "t").unwrap();
    assert_eq!(c.device, DeviceChoice::Cuda(1));
    assert_eq!(c.precision, Precision::Bf16Autocast);
    assert!(matches!(c.model, ModelSpec::Custom(ref m) if m.vocab_size == 118));
    match &c.trace {
        TraceConfig::Dualformer {
            probabilities,
            level3,
            resample,
            level3_drop_probability,
        } => {
            assert_eq!(probabilities[4], 0.2);
            assert_eq!(*level3, Level3Choice::Paper);
            assert_eq!(*resample, Some(ResampleChoice::FixedPerExample));
            assert_eq!(*level3_drop_probability, 0.3);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(c.batch.order, BatchOrder::Random);
    assert_eq!(c.optim.betas, (0.9, 0.95));
    assert_eq!(c.data.subset, SubsetOrder::FileOrder);
    assert_eq!(
        TrainConfig::from_toml_str(&c.to_toml().unwrap(), "rt").unwrap(),
        c
    );
}

fn err_of(text: &str) -> String {
    TrainConfig::from_toml_str(text, "t")
        .expect_err("must fail")
        .to_string()
}

#[test]
fn unknown_and_mistyped_fields_are_named() {
    let e = err_of(&format!("{MINIMAL}\n[optim]\nlearning_rate = 1e-3\n"));
    assert!(e.contains("learning_rate"), "{e}");
    let e = err_of(&format!("{MINIMAL}\n[batch]\nsequences = \"many\"\n"));
    assert!(e.contains("sequences") || e.contains("batch"), "{e}");
    let e = err_of(&format!("{MINIMAL}\nprecision = \"fp8\"\n"));
    assert!(e.contains("fp8"), "{e}");
    let e = err_of("out_dir = \"o\"\nmodel = { size = \"tiny\" }\n");
    assert!(e.contains("data_dir"), "{e}");
    let e = err_of(&MINIMAL.replace("tiny", "huge"));
    assert!(e.contains("huge"), "{e}");
    let e = err_of(&format!("{MINIMAL}\ndevice = \"tpu\"\n"));
    assert!(e.contains("tpu"), "{e}");
}

#[test]
fn invalid_values_name_the_field() {
    let cases = [
        ("[optim]\nlr = -1.0", "optim.lr"),
        (
            "[optim]\nwarmup_steps = 10\ntotal_steps = 10",
            "optim.warmup_steps",
        ),
        ("[optim]\nbetas = [0.9, 1.0]", "optim.betas"),
        ("[optim]\nmin_lr_ratio = 2.0", "optim.min_lr_ratio"),
        ("[batch]\nsequences = 0", "batch.sequences"),
        ("[batch]\nsequences = 1000000000", "batch.sequences"),
        ("[batch]\naccumulation = 0", "batch.accumulation"),
        ("[batch]\naccumulation = 1000000000", "batch.accumulation"),
        (
            "[batch]\norder = { kind = \"bucketed\", pool_batches = 0 }",
            "batch.order.pool_batches",
        ),
        ("[log]\ncheckpoint_every = 0", "log.checkpoint_every"),
        (
            "[optim]\nalgorithm = { galore = { rank = 0 } }",
            "optim.algorithm",
        ),
        (
            "[optim]\nalgorithm = { galore = { rank = 4, per_layer = true } }\n\
             [batch]\naccumulation = 2",
            "batch.accumulation",
        ),
        (
            "[data]\nmin_reasoning_len = 5\nmax_reasoning_len = 5",
            "data.min_reasoning_len",
        ),
        (
            "[trace]\nkind = \"dualformer\"\nprobabilities = [0.5, 0.1, 0.1, 0.1, 0.1]",
            "trace.probabilities",
        ),
    ];
    for (extra, field) in cases {
        let e = err_of(&format!("{MINIMAL}\n{extra}\n"));
        assert!(e.contains(field), "{extra}: {e}");
    }
    // bf16 autocast runs on the CPU too (libtorch's CPU autocast).
    let c = TrainConfig::from_toml_str(
        &format!("{MINIMAL}\ndevice = \"cpu\"\nprecision = \"bf16-autocast\"\n"),
        "t",
    )
    .unwrap();
    assert_eq!(c.precision, Precision::Bf16Autocast);
    // Seeds must round-trip through TOML (signed 64-bit).
    let c = TrainConfig::from_toml_str(&format!("{MINIMAL}\nseed = 9223372036854775807\n"), "t")
        .unwrap();
    assert_eq!(
        TrainConfig::from_toml_str(&c.to_toml().unwrap(), "again")
            .unwrap()
            .seed,
        i64::MAX as u64
    );
}

#[test]
fn set_overrides_are_typed() {
    let mut c = TrainConfig::from_toml_str(MINIMAL, "t").unwrap();
    set(&mut c, "optim.lr", "3e-4").unwrap();
    assert_eq!(c.optim.lr, 3e-4);
    set(&mut c, "batch.sequences", "32").unwrap();
    assert_eq!(c.batch.sequences, 32);
    set(&mut c, "device", "cuda:2").unwrap();
    assert_eq!(c.device, DeviceChoice::Cuda(2));
    set(&mut c, "device", "cpu").unwrap();
    set(&mut c, "model.size", "m-s").unwrap();
    assert_eq!(c.model, ModelSpec::Size(ModelSize::MS));
    set(&mut c, "trace.kind", "solution-only").unwrap();
    assert_eq!(c.trace, TraceConfig::SolutionOnly);
    set(&mut c, "data.train_examples", "100").unwrap();
    assert_eq!(c.data.train_examples, Some(100));
    set(&mut c, "data.train_examples", "none").unwrap();
    assert_eq!(c.data.train_examples, None);
    set(&mut c, "batch.order.kind", "random").unwrap();
    assert_eq!(c.batch.order, BatchOrder::Random);
    set(&mut c, "optim.betas", "[0.8, 0.9]").unwrap();
    assert_eq!(c.optim.betas, (0.8, 0.9));
    set(&mut c, "out_dir", "somewhere/else").unwrap();
    assert_eq!(c.out_dir, PathBuf::from("somewhere/else"));

    let e = set(&mut c, "optim.lrr", "1").err().unwrap().to_string();
    assert!(e.contains("lrr"), "{e}");
    let e = set(&mut c, "batch.sequences", "-3")
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("sequences") || e.contains("batch"), "{e}");
    let e = set(&mut c, "optim.lr", "0").err().unwrap().to_string();
    assert!(e.contains("optim.lr"), "{e}");
    let e = set(&mut c, "precision", "bf16").err().unwrap().to_string();
    assert!(e.contains("precision") || e.contains("bf16"), "{e}");
    // A failed override leaves the config unchanged.
    assert_eq!(c.optim.lr, 3e-4);
    assert_eq!(c.precision, Precision::Fp32);
}

#[test]
fn device_strings() {
    assert_eq!("auto".parse::<DeviceChoice>().unwrap(), DeviceChoice::Auto);
    assert_eq!(
        "cuda".parse::<DeviceChoice>().unwrap(),
        DeviceChoice::Cuda(0)
    );
    assert_eq!(
        "cuda:3".parse::<DeviceChoice>().unwrap(),
        DeviceChoice::Cuda(3)
    );
    assert!("cuda:x".parse::<DeviceChoice>().is_err());
    assert_eq!(DeviceChoice::Cuda(3).to_string(), "cuda:3");
    assert_eq!(DeviceChoice::Cpu.resolve().unwrap(), tch::Device::Cpu);
}

#[test]
fn model_spec_resolves_vocab() {
    let m = ModelSpec::Size(ModelSize::Tiny).resolve(118).unwrap();
    assert_eq!(m.vocab_size(), 118);
    let custom = ModelSpec::Custom(EncoderDecoderConfig::from_size(ModelSize::Tiny, 100));
    let e = custom.resolve(118).err().unwrap().to_string();
    assert!(e.contains("model.custom.vocab_size"), "{e}");
}

#[test]
fn omitted_warmup_scales_with_the_run_and_explicit_values_stay_exact() {
    let with = |extra: &str| TrainConfig::from_toml_str(&format!("{MINIMAL}\n{extra}\n"), "t");
    // Omitted: min(2000, total_steps / 10), computed from the final total_steps.
    for (total, want) in [
        (300u64, 30u64),
        (9, 0),
        (20_000, 2000),
        (400_000, 2000),
        (25_000, 2000),
        (15_000, 1500),
    ] {
        let c = with(&format!("[optim]\ntotal_steps = {total}")).unwrap();
        assert_eq!(c.optim.warmup(), want, "total {total}");
        assert_eq!(
            c.optim.schedule(),
            LrSchedule::Cosine {
                warmup: want,
                total,
                min_ratio: 0.1,
                cycle_length: 1.0,
                theta: 1.0,
            }
        );
    }
    // An override of total_steps alone re-derives it (a 300-step run works).
    let mut c = TrainConfig::from_toml_str(MINIMAL, "t").unwrap();
    set(&mut c, "optim.total_steps", "300").unwrap();
    assert_eq!(c.optim.warmup(), 30);
    // The omitted value is never written, so the round trip keeps it derived.
    let text = c.to_toml().unwrap();
    assert!(!text.contains("warmup_steps"), "{text}");
    assert_eq!(TrainConfig::from_toml_str(&text, "again").unwrap(), c);
    // Explicit values are exact, even above the derived default, and round-trip.
    let c = with("[optim]\nwarmup_steps = 2000\ntotal_steps = 3000").unwrap();
    assert_eq!(c.optim.warmup(), 2000);
    assert_eq!(
        TrainConfig::from_toml_str(&c.to_toml().unwrap(), "again").unwrap(),
        c
    );
    // `none` returns to the derived default.
    let mut c = with("[optim]\nwarmup_steps = 5\ntotal_steps = 3000").unwrap();
    set(&mut c, "optim.warmup_steps", "none").unwrap();
    assert_eq!(c.optim.warmup(), 300);
}

/// Every training config under `configs/` (the `[train]` table of recipes, studies'
/// bases) still parses, and its warm-up is what it says: explicit everywhere.
#[test]
fn configs_in_the_repository_parse_with_their_explicit_warmup() {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "toml") {
                out.push(p);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
    let mut files = Vec::new();
    walk(&root, &mut files);
    let mut checked = 0;
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let table: toml::Table = toml::from_str(&text).unwrap();
        let Some(toml::Value::Table(train)) = table.get("train") else {
            continue;
        };
        let mut train = train.clone();
        train.insert("data_dir".into(), "d".into());
        train.insert("out_dir".into(), "o".into());
        // Recipe-only keys (none today) would fail here, which is the point.
        let cfg =
            TrainConfig::from_toml_str(&toml::to_string(&train).unwrap(), &f.display().to_string())
                .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let written = train
            .get("optim")
            .and_then(|o| o.get("warmup_steps"))
            .and_then(|w| w.as_integer());
        match written {
            Some(w) => assert_eq!(cfg.optim.warmup(), w as u64, "{}", f.display()),
            None => assert_eq!(
                cfg.optim.warmup(),
                2000.min(cfg.optim.total_steps / 10),
                "{}",
                f.display()
            ),
        }
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} training tables found");
}
