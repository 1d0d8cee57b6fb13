//! Every shipped recipe (configs/**/*.toml) and report config parses and validates as
//! shipped, without overrides; names are systematic and unique.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use planform_recipe::{list_recipes, Recipe, ReportConfig, DEMO_RECIPE};

fn configs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs")
}

fn recipes() -> Vec<(PathBuf, Recipe)> {
    list_recipes(&configs_dir())
        .unwrap()
        .into_iter()
        .map(|l| {
            let r = l
                .recipe
                .unwrap_or_else(|e| panic!("{} does not parse: {e}", l.path.display()));
            (l.path, r)
        })
        .collect()
}

#[test]
fn every_recipe_parses_validates_and_round_trips() {
    let all = recipes();
    assert!(all.len() >= 20, "only {} recipes found", all.len());
    let mut names = BTreeMap::new();
    for (path, r) in &all {
        // The run name is the file stem, so `runs/<name>` says which file made it.
        assert_eq!(
            Some(r.name.as_str()),
            path.file_stem().and_then(|s| s.to_str()),
            "{}",
            path.display()
        );
        assert!(
            names.insert(r.name.clone(), path.clone()).is_none(),
            "duplicate {}",
            r.name
        );
        let back = Recipe::from_toml_str(&r.to_toml().unwrap(), "round trip").unwrap();
        assert_eq!(&back, r, "{}", path.display());
    }
}

#[test]
fn recipes_sharing_a_dataset_agree_on_its_config() {
    // The runner refuses to reuse a dataset directory generated with another config, so
    // recipes naming the same dataset must describe it identically.
    let mut seen: BTreeMap<String, (PathBuf, String)> = BTreeMap::new();
    for (path, r) in recipes() {
        let cfg = serde_json::to_string(&r.data.generate_config()).unwrap();
        if let Some((other, c)) = seen.get(&r.data.name) {
            assert_eq!(
                c,
                &cfg,
                "{} and {} disagree on dataset {}",
                path.display(),
                other.display(),
                r.data.name
            );
        } else {
            seen.insert(r.data.name.clone(), (path, cfg));
        }
    }
}

#[test]
fn comparisons_are_at_equal_data_and_model() {
    // Within one setting (`<stem>-solution-only`, `<stem>-search-augmented…`,
    // `<stem>-dualformer`, `<stem>-searchformer`) every recipe on the nondeterministic
    // dataset shares it with the solution-only baseline, with the same model and steps.
    let all = recipes();
    let mut pairs = 0;
    for (_, so) in all
        .iter()
        .filter(|(_, r)| r.name.ends_with("-solution-only"))
    {
        let stem = so.name.trim_end_matches("solution-only");
        for (_, o) in all.iter().filter(|(_, r)| {
            r.name.starts_with(stem) && r.name != so.name && !r.name.ends_with("-det")
        }) {
            pairs += 1;
            let what = format!("{} vs {}", so.name, o.name);
            assert_eq!(so.data.name, o.data.name, "{what}");
            assert_eq!(so.train.config().model, o.train.config().model, "{what}");
            assert_eq!(
                so.train.config().optim.total_steps,
                o.train.config().optim.total_steps,
                "{what}"
            );
            assert_eq!(
                so.train.config().data.train_examples,
                o.train.config().data.train_examples,
                "{what}"
            );
        }
    }
    assert!(pairs >= 10, "only {pairs} comparisons found");
}

#[test]
fn demo_recipe_is_the_shipped_file() {
    let shipped = std::fs::read_to_string(configs_dir().join("demo.toml")).unwrap();
    assert_eq!(shipped, DEMO_RECIPE);
    let r = Recipe::from_toml_str(DEMO_RECIPE, "demo").unwrap();
    assert!(r.eval("untrained").is_some() && r.eval("test").is_some());
}

#[test]
fn report_configs_name_shipped_recipes() {
    let all = recipes();
    let names: Vec<&str> = all.iter().map(|(_, r)| r.name.as_str()).collect();
    let mut found = 0;
    for entry in std::fs::read_dir(configs_dir()).unwrap() {
        let path = entry.unwrap().path();
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        if !stem.starts_with("report") {
            continue;
        }
        found += 1;
        let cfg = ReportConfig::from_file(&path).unwrap();
        for claim in &cfg.claims {
            if let planform_recipe::report::Claim::Sweep { sweep, .. } = claim {
                // A sweep section names a shipped sweep in configs/studies/.
                let file = configs_dir().join("studies").join(format!("{sweep}.toml"));
                let parsed = planform_recipe::sweep::Sweep::from_file(&file)
                    .unwrap_or_else(|e| panic!("{}: sweep {sweep}: {e}", path.display()));
                assert_eq!(&parsed.name, sweep, "{}", file.display());
                continue;
            }
            if let planform_recipe::report::Claim::Table { command, .. } = claim {
                // A table section names a shipped script.
                let script = command.split_whitespace().next().unwrap_or_default();
                let file = configs_dir().join("..").join(script);
                assert!(file.is_file(), "{}: no script {script}", path.display());
                continue;
            }
            for run in claim.runs() {
                // Seeds are runs of a shipped recipe under another name (`--set name=…-seedN`).
                let base = run.split("-seed").next().unwrap_or(&run);
                assert!(
                    names.contains(&base),
                    "{}: unknown run {run}",
                    path.display()
                );
            }
        }
    }
    assert!(found >= 1, "no report config in configs/");
}
