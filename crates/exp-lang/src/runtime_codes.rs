//! Documentation of the codes raised after checking: by `exp run`, `exp
//! report`, `exp embed`, `exp fmt`, `exp lsp` and the data, model, train and
//! score modules. `exp explain CODE` prints these with the front end's
//! ([`crate::lang::error::ERROR_DOCS`]) and the lints' ([`crate::lint::RULES`]);
//! a test reads every `code(...)` in `src/` and fails on one missing here.

/// `(code, what it means and what to do)`, grouped by module.
pub const RUNTIME_DOCS: &[(&str, &str)] = &[
    ("exp::io::unreadable", "`exp check` could not read a file named on its command line (missing, a folder, no permission). Exit code 2; with `--format json` the array holds an entry with this code at line 1."),
    ("exp::check::failed", "The summary of `exp run`, `exp plan` and `exp embed` when the pipeline has errors: the errors follow it, each with its own code. Nothing was run; `exp check FILE` shows the same errors with warnings."),
    // data
    ("exp::data::other", "A data-module failure without a more specific code; the message says what failed. Rerun `exp check --data FILE` to see the data set's problems."),
    ("exp::data::io", "A manifest, image folder or image file could not be read. Check that the path in `manifest` / `root` exists (relative paths start at the pipeline file's folder) and is readable."),
    ("exp::data::missing_column", "The manifest CSV has no column the data declaration names (`columns = { path, label, split }` or a `metadata` entry). Rename the column in the declaration or add it to the CSV."),
    ("exp::data::bad_row", "A manifest row cannot be read: wrong number of cells, an empty path or label, or broken quoting. The message names the file and line; fix or remove the row."),
    ("exp::data::bad_value", "A numeric metadata cell holds text that is not a number. Write a number, or leave the cell empty (or `NA`) to mark it missing."),
    ("exp::data::duplicate_path", "The same image path appears twice in a manifest; each image may appear once, otherwise it would be counted twice (or leak across splits)."),
    ("exp::data::duplicate_column", "The manifest has two columns with the same name (two `label` columns, say). exp will not guess which one is meant: rename or remove one of them."),
    ("exp::data::empty_column", "A `metadata` column has no values in the train split. The encoding is fitted on train, so the column would carry nothing there and unscaled values elsewhere: fill it in or remove it from `metadata`."),
    ("exp::data::label_in_metadata", "A `metadata` column is the label column or a one-to-one function of it, so the metadata branch would be fed the answer. `exp run` refuses it, as `exp check` does (`exp::lint::label_in_metadata`); remove the column from `metadata`."),
    ("exp::data::metadata_type", "A metadata column mixes numbers and words (e.g. `age` with some `unknown` entries): exp will not silently turn it into one-hot categories. The message names the rows; fix them, leave them empty (missing), or declare the intent (`metadata = [age: numeric]` or `[age: category]`)."),
    ("exp::data::unknown_label", "A row of a validation or test split has a label no training image has, so the model cannot predict it. Fix the spelling, or add training images of that class."),
    ("exp::data::empty_split", "A split the pipeline uses (`train`, the selection split, the scored split) has no rows, after `subset` caps. The help names the splits that do exist."),
    ("exp::data::missing_image", "An image a manifest row names does not exist. Fix the path (relative to the data's `root`, else the manifest's folder), or set `on_bad_image = skip` to skip such rows and list them. `exp check --data` reports the same before a run as `exp::lint::missing_images`."),
    ("exp::data::bad_image", "An image file cannot be decoded (truncated, not a JPEG or PNG). Re-export or remove it, or set `on_bad_image = skip` on the data declaration to skip such files and list them."),
    ("exp::data::no_images", "An `image_folder` root holds no images in the expected layout `<root>/<split>/<class>/*.jpg|jpeg|png`."),
    ("exp::data::unknown_split", "A data set is asked for a split it does not have; the message lists the splits found. Use one of them (in the score's `split` or the recipe's `select`)."),
    ("exp::data::cache", "The decoded-image cache could not be written or read back (disk full, no permission, a corrupt cache file). Check the cache folder (`cache`, `$EXP_CACHE` or `~/.cache/exp`); deleting it is always safe."),
    ("exp::data::settings", "A data setting has a value the data module cannot use: `cache_size` outside 1..=4096 px, or a generated data set with fewer than 2 classes, images under 8 px or no training images. Fix the setting in the `data` declaration."),
    ("exp::data::device", "Moving a batch to the device failed (out of memory, a lost GPU). Check the device and the memory free on it; a smaller `batch` helps."),
    // models
    ("exp::model::unknown_arch", "`exp embed --backbone` (or a saved cell) names an architecture the model zoo does not have; the help suggests the nearest. `exp check` reports the same problem in a pipeline as `exp::check::unknown_arch`."),
    ("exp::model::pickle_weights", "A weights file is a pickle checkpoint (.pt, .pth, .bin, .ckpt). Pickle can execute code when loaded, so only safetensors are read; the help prints the one-line conversion."),
    ("exp::model::weights_not_found", "The `pretrained` (or `--weights`) file does not exist. Relative paths start at the pipeline file's folder."),
    ("exp::model::hf_not_cached", "`pretrained = hf(\"org/name\")` names weights that are not in the local Hugging Face cache. exp never downloads: fetch them once on a machine with network and copy the cache, or point `HF_HUB_CACHE` / `HF_HOME` at it."),
    ("exp::model::corrupt_weights", "A weights file is truncated or not valid safetensors. Download or convert it again."),
    ("exp::model::key_mismatch", "The checkpoint's tensor names do not match the network: keys are missing or unexpected (the help lists a few). The checkpoint is probably for another architecture."),
    ("exp::model::shape_mismatch", "The checkpoint has the right tensor names but some have the wrong shape, usually a checkpoint for another size of the same architecture (`convnextv2_tiny` weights for `convnextv2_base`)."),
    ("exp::model::image_size", "A ViT needs an input size that is a positive multiple of its patch size; the help names the multiple."),
    ("exp::model::image_too_small", "The input size is smaller than the architecture can take (its strides would reduce the image to nothing); the help names the minimum."),
    ("exp::model::bad_image", "`exp embed` could not read one of its images. Check that the file is a readable JPEG or PNG."),
    ("exp::model::write", "`exp embed` could not write its output (embeddings file). Check that the folder exists and is writable."),
    ("exp::model::device", "The device is not `auto`, `cpu`, `cuda` or `cuda:N`."),
    ("exp::model::torch", "libtorch failed while running the network: most often out of memory on the device. Rerun with a smaller `batch`; otherwise report it with the message."),
    ("exp::model::other", "A model-module failure without a more specific code; the message says what failed."),
    // train
    ("exp::train::other", "A training failure without a more specific code; the message says what failed."),
    ("exp::train::data", "Training stopped on a data error; the message carries the data module's own code and help (for example `exp::data::bad_image`). `exp check --data FILE` lists the data set's problems."),
    ("exp::train::model", "Training stopped on a model error (weights, architecture, input size); the message carries the model module's code and help."),
    ("exp::train::io", "A cell's output (checkpoint, metrics.csv, predictions, TensorBoard events) could not be written. Check that the output folder is writable and the disk is not full."),
    ("exp::train::checkpoint", "A saved checkpoint of the cell cannot be read back (truncated or from another version). Delete it to train the cell from scratch, or rerun `exp run`, which rewrites it."),
    ("exp::train::empty_split", "After subsetting, the training split or the selection split has no images; check the data's split column and the budget's `train` / `val` caps."),
    ("exp::train::no_best", "The cell ended before its first validated epoch (it diverged or was interrupted), so there is no best checkpoint to score. Look at metrics.csv and rerun with a smaller lr."),
    ("exp::train::predict", "Predictions on a split have a different number of rows than the split. This is a bug in the data loader: please report it."),
    // score
    ("exp::score::shape", "Predictions do not hold one probability per class for every image. This points at a corrupt predictions file or a bug."),
    ("exp::score::label", "A label is not a class index of the data set the model was trained on."),
    ("exp::score::non_finite", "The model produced NaN or infinite outputs, so the cell cannot be scored: it probably diverged. Lower the lr or add warmup."),
    // exec
    ("exp::exec::io", "`exp run` could not create or write the run folder (sweep.json, a cell's folder, the lock). Check that the output folder is writable and the disk is not full."),
    ("exp::exec::device", "`--device` is not `auto`, `cpu`, `cuda` or `cuda:N` with N below the number of visible GPUs."),
    ("exp::exec::unknown_cell", "`--cell ID` names no cell of the file's sweeps; the message suggests the nearest id and `exp plan FILE` lists them all."),
    ("exp::exec::unknown_sweep", "`--sweep NAME` names no sweep of the file; the sweeps are the file's `sweep NAME { ... }` blocks."),
    ("exp::exec::missing_weights", "Before any training, `exp run` found backbones whose `pretrained` weights are not on this machine (listed in the message). exp never downloads: copy the weights or the Hugging Face cache here, or fix the backbone. `exp check --data` reports the same as `exp::lint::missing_weights`."),
    ("exp::exec::no_sweep", "The file declares no sweep, so `exp run` has nothing to run. Add a `sweep NAME { ... }` block."),
    ("exp::exec::slurm", "Submitting to or polling Slurm failed (`sbatch` / `squeue` missing, rejected job, bad account or partition); the help says what to check."),
    ("exp::exec::spawn", "The child process that trains a cell could not start. Check that the `exp` binary is still in place and the machine can start processes."),
    ("exp::exec::bad_data_ref", "`exp score --data` takes `FILE.exp:NAME`: a pipeline file and one of its data declarations, e.g. `--data pipelines/external.exp:clinic`."),
    ("exp::exec::bad_run_file", "A file `exp run` wrote (config.json, scores.json, sweep.json) cannot be read: written by another version of exp or edited. Rerun `exp run` to rewrite it."),
    ("exp::exec::not_a_run_dir", "`exp score DIR` needs a directory `exp run` wrote: `runs/SWEEP` (every cell, sweep.json) or `runs/SWEEP/CELL` (one cell, config.json)."),
    ("exp::exec::unknown_data", "`exp score --data FILE.exp:NAME` names a data declaration the file does not have; the message suggests the nearest name."),
    ("exp::exec::unsupported_gpu", "The GPU's compute capability is not among the architectures the linked libtorch has kernels for (PyPI's torch 2.11 wheels start at sm_75, so a Pascal TITAN X or a V100 is not covered). Nothing was run. Install a libtorch built for that architecture (then `EXP_VENV` or `LIBTORCH` and a rebuild), or run with `--device cpu`."),
    // report
    ("exp::report::no_sweep", "`exp report DIR` found no sweep.json in DIR. Pass a sweep output folder such as `runs/round1`; `exp run` writes it."),
    ("exp::report::bad_file", "A file of the run folder (sweep.json, a cell's metrics or predictions) is not what this version of exp writes: edited, truncated or from another version. Rerun `exp run` to rewrite it."),
    ("exp::report::write", "The report (report.html, plots, CSV) could not be written. Check that the sweep folder is writable and the disk is not full."),
    // editor
    ("exp::fmt::io", "`exp fmt` could not read or write a file. Exit code 2; the other files are still formatted."),
    ("exp::fmt::syntax", "`exp fmt` formats only files that parse; `exp check FILE` explains the syntax error in full."),
    ("exp::fmt::unformatted", "`exp fmt --check` found a file that differs from its canonical layout. Run `exp fmt FILE` to rewrite it."),
    ("exp::fmt::changed_meaning", "Formatting would have changed the file's tokens, so the file was left as it is. This is a bug in `exp fmt`: please report it with the file attached."),
    ("exp::lsp::protocol", "`exp lsp` received something that is not the language server protocol on stdio. Start it from an editor's language client, not by hand."),
    ("exp::lsp::json", "`exp lsp` could not serialise or read a message. This is a bug: please report it with the client's log."),
];
