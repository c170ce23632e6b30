//! `recipe` declarations: optimizer, schedule, augmentations, early stopping.

use super::*;

impl Checker<'_, '_> {
    pub(super) fn recipe(&mut self, m: &Merged) -> Option<RecipeSpec> {
        let f = self.fields(m);
        let mut ok = true;
        let optimizer = match f.get("optimizer") {
            Some(e) => self.optimizer(e),
            None => {
                self.v.missing(
                    m.name.span,
                    "optimizer",
                    &context(m),
                    "e.g. `optimizer = adamw(lr = 2e-3, finetune_lr = 1e-4)`",
                );
                None
            }
        };
        let schedule = match f.get("schedule") {
            Some(e) => self.schedule(e),
            None => Some(Schedule::Constant),
        };
        let warmup = match f.get("warmup") {
            None => Some(Warmup::None),
            Some(e) if matches!(&e.kind, ExprKind::Ref(id) if id.name == "none") => {
                Some(Warmup::None)
            }
            Some(e) => match self
                .v
                .quantity(e, "warmup", &[Dim::Steps, Dim::Epochs], "200 steps")
            {
                Some((v, _)) if v < 0.0 => {
                    self.v.err(
                        e.span,
                        CheckError::OutOfRange {
                            what: "warmup".into(),
                            value: fmt_num(v),
                            range: "must be ≥ 0".into(),
                            span: e.span.into(),
                            help: "a warmup cannot be negative: write e.g. `0 steps` for none or `200 steps`".into(),
                        },
                    );
                    None
                }
                Some((v, Dim::Steps)) => {
                    if v.fract() != 0.0 {
                        self.v.err(
                            e.span,
                            CheckError::OutOfRange {
                                what: "warmup".into(),
                                value: fmt_num(v),
                                range: "must be a whole number of steps".into(),
                                span: e.span.into(),
                                help: "write a whole number of steps, e.g. `200 steps`, or use epochs (`0.5 epochs`)".into(),
                            },
                        );
                        None
                    } else if v == 0.0 {
                        Some(Warmup::None)
                    } else {
                        Some(Warmup::Steps(v as u64))
                    }
                }
                Some((v, _)) => Some(if v == 0.0 {
                    Warmup::None
                } else {
                    Warmup::Epochs(v)
                }),
                None => None,
            },
        };
        let batch =
            opt(f.get("batch"), |e| self.v.int(e, "batch", 1, 65536)).map_or(32, |v| v as u32);
        let accumulate = opt(f.get("accumulate"), |e| {
            self.v.int(e, "accumulate", 1, 4096)
        })
        .map_or(1, |v| v as u32);
        let augment = match f.get("augment") {
            Some(e) => self.augments(e),
            None => Some(Vec::new()),
        };
        let mut dropout = Dropout {
            head: 0.0,
            metadata: 0.0,
        };
        if let Some(e) = f.get("dropout") {
            match self.v.record(e, "dropout", &["head", "metadata"]) {
                Some(r) => {
                    if let Some(x) = r.get("head") {
                        ok &= self
                            .v
                            .fraction(x, "dropout.head", false)
                            .map(|v| dropout.head = v)
                            .is_some();
                    }
                    if let Some(x) = r.get("metadata") {
                        ok &= self
                            .v
                            .fraction(x, "dropout.metadata", false)
                            .map(|v| dropout.metadata = v)
                            .is_some();
                    }
                }
                None => ok = false,
            }
        }
        let label_smoothing = match f.get("label_smoothing") {
            Some(e) => self.v.fraction(e, "label_smoothing", false),
            None => Some(0.0),
        };
        let early_stop = match f.get("early_stop") {
            None => Some(None),
            Some(e) if matches!(&e.kind, ExprKind::Ref(id) if id.name == "none") => Some(None),
            Some(e) => self.early_stop(e).map(Some),
        };
        let (mut select_split, mut monitor) = ("val".to_string(), Monitor::ValLoss);
        if let Some(e) = f.get("select") {
            match self.v.record(e, "select", &["split", "monitor"]) {
                Some(r) => {
                    if let Some(x) = r.get("split") {
                        match self.v.string(x, "select.split") {
                            Some(s) => select_split = s,
                            None => ok = false,
                        }
                    }
                    if let Some(x) = r.get("monitor") {
                        match self.monitor(x) {
                            Some(mo) => monitor = mo,
                            None => ok = false,
                        }
                    }
                }
                None => ok = false,
            }
        }
        let precision = match f.get("precision").map(|e| {
            self.v
                .word(e, "precision", &["auto", "bf16", "fp16", "f32"])
        }) {
            None => Some(Precision::Auto),
            Some(Some("bf16")) => Some(Precision::Bf16),
            Some(Some("fp16")) => Some(Precision::F16),
            Some(Some("f32")) => Some(Precision::F32),
            Some(Some(_)) => Some(Precision::Auto),
            Some(None) => None,
        };
        let pos = |v: &mut Values, e: &Expr, what: &str, hi: f64, hi_open: bool, help: &str| {
            v.ranged(e, what, 0.0, hi, true, hi_open, help)
        };
        let grad_clip = opt_some(f.get("grad_clip"), |e| {
            pos(
                &mut self.v,
                e,
                "grad_clip",
                f64::INFINITY,
                false,
                "a max gradient norm > 0",
            )
        });
        let ema = opt_some(f.get("ema"), |e| {
            pos(
                &mut self.v,
                e,
                "ema",
                1.0,
                true,
                "an EMA decay such as 0.999",
            )
        });
        let layer_decay = opt_some(f.get("layer_decay"), |e| {
            pos(
                &mut self.v,
                e,
                "layer_decay",
                1.0,
                false,
                "a per-layer lr factor such as 0.75",
            )
        });
        let metadata_hidden = opt(f.get("metadata_hidden"), |e| {
            self.v.int(e, "metadata_hidden", 1, 65536)
        })
        .map_or(64, |v| v as u32);
        let diverge_factor = match f.get("diverge_factor") {
            Some(e) => self.v.ranged(
                e,
                "diverge_factor",
                1.0,
                f64::INFINITY,
                true,
                false,
                "a factor > 1 over the first epoch's loss",
            ),
            None => Some(10.0),
        };
        let instability = self.instability(&f);
        let (
            Some(optimizer),
            Some(schedule),
            Some(warmup),
            Some(augment),
            Some(label_smoothing),
            Some(early_stop),
            Some(precision),
            Some(grad_clip),
            Some(ema),
            Some(layer_decay),
            Some(diverge_factor),
        ) = (
            optimizer,
            schedule,
            warmup,
            augment,
            label_smoothing,
            early_stop,
            precision,
            grad_clip,
            ema,
            layer_decay,
            diverge_factor,
        )
        else {
            return None;
        };
        let (val_loss_factor, on_unstable) = instability?;
        let cuda_graphs = match f
            .get("cuda_graphs")
            .map(|e| self.v.word(e, "cuda_graphs", &["auto", "off"]))
        {
            None | Some(Some("auto")) => CudaGraphs::Auto,
            Some(Some(_)) => CudaGraphs::Off,
            Some(None) => return None,
        };
        let sync_bn = match f.get("sync_bn").map(|e| self.v.boolean(e, "sync_bn")) {
            None => false,
            Some(Some(b)) => b,
            Some(None) => return None,
        };
        ok.then_some(RecipeSpec {
            name: m.name.name.clone(),
            optimizer,
            schedule,
            warmup,
            batch,
            accumulate,
            augment,
            dropout,
            label_smoothing,
            early_stop,
            monitor,
            select_split,
            precision,
            grad_clip,
            ema,
            layer_decay,
            metadata_hidden,
            diverge_factor,
            val_loss_factor,
            on_unstable,
            cuda_graphs,
            sync_bn,
        })
    }

    /// `val_loss_factor` (default 10) and `on_unstable` (default `continue`)
    /// of a recipe: the validation instability checks (`train::instability`).
    fn instability(&mut self, f: &Fields<'_>) -> Option<(f64, OnUnstable)> {
        let factor = match f.get("val_loss_factor") {
            Some(e) => self.v.ranged(
                e,
                "val_loss_factor",
                1.0,
                f64::INFINITY,
                true,
                false,
                "a factor > 1 over the best validation loss so far",
            ),
            None => Some(10.0),
        };
        let action = match f
            .get("on_unstable")
            .map(|e| self.v.word(e, "on_unstable", &["continue", "stop"]))
        {
            None | Some(Some("continue")) => Some(OnUnstable::Continue),
            Some(Some(_)) => Some(OnUnstable::Stop),
            Some(None) => None,
        };
        Some((factor?, action?))
    }

    fn lr(&mut self, e: &Expr, what: &str) -> Option<f64> {
        self.v.ranged(
            e,
            what,
            0.0,
            10.0,
            true,
            false,
            "a learning rate > 0, usually between 1e-5 and 1e-1",
        )
    }

    fn optimizer(&mut self, e: &Expr) -> Option<OptimizerSpec> {
        let (name, args) = self
            .v
            .call(e, "optimizer", &["adamw", "adam", "sgd", "rmsprop"])?;
        let params: &[&str] = match name {
            "adamw" | "adam" => &["lr", "finetune_lr", "weight_decay", "betas", "eps"],
            "sgd" => &["lr", "finetune_lr", "momentum", "nesterov", "weight_decay"],
            _ => &[
                "lr",
                "finetune_lr",
                "alpha",
                "eps",
                "momentum",
                "tf_style",
                "weight_decay",
            ],
        };
        let a = self.v.args(name, e.span, args, &[], params);
        let Some(lr_e) = a.get("lr") else {
            self.v.missing(
                e.span,
                "lr",
                &format!("`{name}(...)`"),
                &format!("give the learning rate: `{name}(lr = 1e-3)`"),
            );
            return None;
        };
        let lr = self.lr(lr_e, "lr");
        let finetune_lr = match a.get("finetune_lr") {
            Some(x) => self.lr(x, "finetune_lr"),
            None => lr,
        };
        let wd_default = if name == "adamw" { 0.01 } else { 0.0 };
        let weight_decay = match a.get("weight_decay") {
            Some(x) => self.v.ranged(
                x,
                "weight_decay",
                0.0,
                1.0,
                false,
                false,
                "a decoupled / L2 weight decay in [0, 1]",
            ),
            None => Some(wd_default),
        };
        let kind = match name {
            "adamw" | "adam" => {
                let (b1, b2) = match a.get("betas") {
                    Some(x) => {
                        let v = self.v.numbers(x, "betas", 2)?;
                        for b in &v {
                            if !(0.0..1.0).contains(b) {
                                self.v.err(
                                    x.span,
                                    CheckError::OutOfRange {
                                        what: "betas".into(),
                                        value: fmt_num(*b),
                                        range: "each must be in [0, 1)".into(),
                                        span: x.span.into(),
                                        help: "the usual values are [0.9, 0.999]".into(),
                                    },
                                );
                                return None;
                            }
                        }
                        (v[0], v[1])
                    }
                    None => (0.9, 0.999),
                };
                let eps = opt(a.get("eps"), |x| {
                    self.v
                        .ranged(x, "eps", 0.0, 1.0, true, false, "a small positive number")
                })
                .unwrap_or(1e-8);
                if name == "adamw" {
                    OptimizerKind::AdamW {
                        beta1: b1,
                        beta2: b2,
                        eps,
                    }
                } else {
                    OptimizerKind::Adam {
                        beta1: b1,
                        beta2: b2,
                        eps,
                    }
                }
            }
            "sgd" => {
                let momentum = opt(a.get("momentum"), |x| {
                    self.v
                        .ranged(x, "momentum", 0.0, 1.0, false, true, "in [0, 1)")
                })
                .unwrap_or(0.9);
                let nesterov =
                    opt(a.get("nesterov"), |x| self.v.boolean(x, "nesterov")).unwrap_or(false);
                OptimizerKind::Sgd { momentum, nesterov }
            }
            _ => {
                let alpha = opt(a.get("alpha"), |x| {
                    self.v
                        .ranged(x, "alpha", 0.0, 1.0, false, true, "in [0, 1)")
                })
                .unwrap_or(0.9);
                let eps = opt(a.get("eps"), |x| {
                    self.v
                        .ranged(x, "eps", 0.0, 1.0, true, false, "a small positive number")
                })
                .unwrap_or(1e-3);
                let momentum = opt(a.get("momentum"), |x| {
                    self.v
                        .ranged(x, "momentum", 0.0, 1.0, false, true, "in [0, 1)")
                })
                .unwrap_or(0.9);
                let tf_style =
                    opt(a.get("tf_style"), |x| self.v.boolean(x, "tf_style")).unwrap_or(true);
                OptimizerKind::RmsProp {
                    alpha,
                    eps,
                    momentum,
                    tf_style,
                }
            }
        };
        Some(OptimizerSpec {
            kind,
            lr: lr?,
            finetune_lr: finetune_lr?,
            weight_decay: weight_decay?,
        })
    }

    fn schedule(&mut self, e: &Expr) -> Option<Schedule> {
        let (name, args) = self
            .v
            .call(e, "schedule", &["constant", "cosine", "step"])?;
        match name {
            "constant" => {
                let _ = self.v.args(name, e.span, args, &[], &[]);
                Some(Schedule::Constant)
            }
            "cosine" => {
                let a = self.v.args(name, e.span, args, &[], &["min_lr_ratio"]);
                let min_lr_ratio = match a.get("min_lr_ratio") {
                    Some(x) => self.v.fraction(x, "min_lr_ratio", false)?,
                    None => 0.0,
                };
                Some(Schedule::Cosine { min_lr_ratio })
            }
            _ => {
                let a = self
                    .v
                    .args(name, e.span, args, &["every"], &["every", "gamma"]);
                let Some(every) = a.get("every") else {
                    self.v.missing(
                        e.span,
                        "every",
                        "`step(...)`",
                        "e.g. `step(every = 2 epochs, gamma = 0.1)`",
                    );
                    return None;
                };
                let every = self.v.count(every, "every", Dim::Epochs, 1, "2 epochs")?;
                let gamma = match a.get("gamma") {
                    Some(x) => self.v.ranged(
                        x,
                        "gamma",
                        0.0,
                        1.0,
                        true,
                        false,
                        "the factor applied every period, in (0, 1]",
                    )?,
                    None => 0.1,
                };
                Some(Schedule::Step {
                    every_epochs: every as u32,
                    gamma,
                })
            }
        }
    }

    fn monitor(&mut self, e: &Expr) -> Option<Monitor> {
        match self.v.word(e, "monitor", &["val_loss", "val_top1"])? {
            "val_top1" => Some(Monitor::ValTop1),
            _ => Some(Monitor::ValLoss),
        }
    }

    fn early_stop(&mut self, e: &Expr) -> Option<EarlyStop> {
        let r = self
            .v
            .record(e, "early_stop", &["patience", "monitor", "min_delta"])?;
        let Some(p) = r.get("patience") else {
            self.v.missing(
                e.span,
                "patience",
                "`early_stop`",
                "e.g. `early_stop = { patience = 2 epochs }`",
            );
            return None;
        };
        let patience = self.v.count(p, "patience", Dim::Epochs, 1, "2 epochs");
        let monitor = match r.get("monitor") {
            Some(x) => self.monitor(x),
            None => Some(Monitor::ValLoss),
        };
        let min_delta = match r.get("min_delta") {
            Some(x) => self.v.ranged(
                x,
                "min_delta",
                0.0,
                f64::INFINITY,
                false,
                false,
                "an improvement ≥ 0",
            ),
            None => Some(0.0),
        };
        Some(EarlyStop {
            patience: patience? as u32,
            monitor: monitor?,
            min_delta: min_delta?,
        })
    }

    fn augments(&mut self, e: &Expr) -> Option<Vec<Augment>> {
        let items = self.v.list(e, "augment")?;
        let mut out = Vec::new();
        let mut ok = true;
        for i in items {
            match self.augment(i) {
                Some(a) => out.push(a),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn augment(&mut self, e: &Expr) -> Option<Augment> {
        const NAMES: &[&str] = &[
            "random_resized_crop",
            "hflip",
            "vflip",
            "rotate",
            "color_jitter",
            "rand_augment",
            "random_erasing",
            "mixup",
            "cutmix",
        ];
        let (name, args) = self.v.call(e, "augmentation", NAMES)?;
        let sp = e.span;
        let prob = |v: &mut Values, a: &crate::lang::values::ArgMap, k: &str, d: f64| match a.get(k)
        {
            Some(x) => v.fraction(x, k, true),
            None => Some(d),
        };
        Some(match name {
            "random_resized_crop" => {
                let a = self.v.args(name, sp, args, &[], &["scale", "ratio"]);
                let scale = match a.get("scale") {
                    Some(x) => self.pair(x, "scale", 0.0, 1.0)?,
                    None => (0.08, 1.0),
                };
                let ratio = match a.get("ratio") {
                    Some(x) => self.pair(x, "ratio", 0.0, 100.0)?,
                    None => (0.75, 4.0 / 3.0),
                };
                Augment::RandomResizedCrop { scale, ratio }
            }
            "hflip" | "vflip" => {
                let a = self.v.args(name, sp, args, &["p"], &["p"]);
                let p = prob(&mut self.v, &a, "p", 0.5)?;
                if name == "hflip" {
                    Augment::HFlip { p }
                } else {
                    Augment::VFlip { p }
                }
            }
            "rotate" => {
                let a = self.v.args(name, sp, args, &["degrees"], &["degrees"]);
                let Some(x) = a.get("degrees") else {
                    self.v
                        .missing(sp, "degrees", "`rotate(...)`", "e.g. `rotate(30 deg)`");
                    return None;
                };
                let (d, _) = self.v.quantity(x, "degrees", &[Dim::Degrees], "30 deg")?;
                if !(0.0..=180.0).contains(&d) {
                    self.v.err(
                        x.span,
                        CheckError::OutOfRange {
                            what: "degrees".into(),
                            value: fmt_num(d),
                            range: "must be in [0, 180]".into(),
                            span: x.span.into(),
                            help: "the rotation is uniform in [-degrees, degrees]".into(),
                        },
                    );
                    return None;
                }
                Augment::Rotate { degrees: d }
            }
            "color_jitter" => {
                let a = self.v.args(
                    name,
                    sp,
                    args,
                    &["strength"],
                    &["strength", "brightness", "contrast", "saturation", "hue"],
                );
                let s = match a.get("strength") {
                    Some(x) => self
                        .v
                        .ranged(x, "strength", 0.0, 1.0, false, false, "in [0, 1]")?,
                    None => 0.0,
                };
                let mut g = |k: &str, d: f64, hi: f64| match a.get(k) {
                    Some(x) => self
                        .v
                        .ranged(x, k, 0.0, hi, false, false, "a jitter strength"),
                    None => Some(d),
                };
                let brightness = g("brightness", s, 1.0)?;
                let contrast = g("contrast", s, 1.0)?;
                let saturation = g("saturation", s, 1.0)?;
                let hue = g("hue", 0.0, 0.5)?;
                Augment::ColorJitter {
                    brightness,
                    contrast,
                    saturation,
                    hue,
                }
            }
            "rand_augment" => {
                let a = self.v.args(name, sp, args, &["n", "m"], &["n", "m"]);
                let n = opt(a.get("n"), |x| self.v.int(x, "n", 1, 16)).unwrap_or(2) as u32;
                let m = opt(a.get("m"), |x| self.v.int(x, "m", 0, 30)).unwrap_or(9) as u32;
                Augment::RandAugment { n, m }
            }
            "random_erasing" => {
                let a = self.v.args(name, sp, args, &["p"], &["p"]);
                Augment::RandomErasing {
                    p: prob(&mut self.v, &a, "p", 0.25)?,
                }
            }
            _ => {
                let a = self.v.args(name, sp, args, &["alpha"], &["alpha"]);
                let d = if name == "mixup" { 0.2 } else { 1.0 };
                let alpha = match a.get("alpha") {
                    Some(x) => self.v.ranged(
                        x,
                        "alpha",
                        0.0,
                        100.0,
                        true,
                        false,
                        "a Beta(α, α) parameter > 0",
                    )?,
                    None => d,
                };
                if name == "mixup" {
                    Augment::Mixup { alpha }
                } else {
                    Augment::Cutmix { alpha }
                }
            }
        })
    }

    fn pair(&mut self, e: &Expr, what: &str, lo: f64, hi: f64) -> Option<(f64, f64)> {
        let v = self.v.numbers(e, what, 2)?;
        if !(v[0] > lo && v[0] <= v[1] && v[1] <= hi) {
            self.v.err(
                e.span,
                CheckError::OutOfRange {
                    what: what.into(),
                    value: format!("[{}, {}]", fmt_num(v[0]), fmt_num(v[1])),
                    range: format!("needs {} < low ≤ high ≤ {}", fmt_num(lo), fmt_num(hi)),
                    span: e.span.into(),
                    help: "give two numbers `[low, high]` in that range, e.g. `[0.08, 1.0]`".into(),
                },
            );
            return None;
        }
        Some((v[0], v[1]))
    }
}
