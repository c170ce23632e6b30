//! Codes and docs of the rules that need the data sets or the weights on
//! disk (`exp check --data`). The rules themselves run in the runtime
//! (`exp::preflight`); their docs live here so `exp explain` answers without
//! it.

pub const SUBSET_CODE: &str = "exp::lint::subset_exceeds_split";
pub const SUBSET_DOC: &str = r#"
## What it does
With `--data`: reports an **error** when a budget's `train` or `val` sample
cap is larger than that split of a data set it is used with.

## Why is this bad
The subset would be the whole split, so the budget does not mean what it
says, and two data sets under "the same" budget train on different amounts.

## Example
```
budget screen { train = 24_000 samples  finetune = 4 epochs }
// data with 10_000 train rows: error
```
Lower the cap or drop it (`train` absent = the full split).
"#;

pub const MISSING_CODE: &str = "exp::lint::missing_images";
pub const MISSING_DOC: &str = r#"
## What it does
With `--data`: reports as an **error** every problem of a data set that
`exp run` would refuse, found without decoding it — image files that are
missing, not regular files (a FIFO, a device) or whose header does not
parse, unknown labels, the same file listed twice (under any spelling:
`./x`, `a//x`, `a/../a/x` and an absolute path are one file), bad rows,
empty splits, non-numeric values in a numeric metadata column, a column
that is mostly numbers with some words, a metadata column with no value in
the train split, two manifest columns of the same name — each with the file
or manifest row. The label shows the data module's own code
(`exp::data::...`, see docs/data.md).

## Why is this bad
A missing image fails the run hours in (`on_bad_image = fail`) or silently
shrinks a split (`skip`). Finding it before any GPU time is cheap, and
`exp check --data` passing means `exp run` will not stop on the data.

## Example
```
data derm { manifest = "derm/manifest.csv" }   // a row names images/x.jpg, absent
```
Fix the manifest or the files; or set `on_bad_image = skip` knowingly.
"#;

pub const COLUMN_CODE: &str = "exp::lint::unknown_column";
pub const COLUMN_DOC: &str = r#"
## What it does
With `--data`: reports an **error** when `columns` (path, label, split) or
`metadata` names a column the manifest does not have, with the closest
existing column.

## Why is this bad
Loading the data would fail at the start of every cell.

## Example
```
data derm { manifest = "m.csv"  metadata = ["age", "sexe"] }   // the manifest says `sex`
```
"#;

pub const SAME_CODE: &str = "exp::lint::same_image_in_splits";
pub const SAME_DOC: &str = r#"
## What it does
With `--data`: reports an **error** when two images of different splits have
the same content (BLAKE3 hash of the file's bytes), whatever their names or
paths, listing the pairs.

## Why is this bad
An image in both train and test is scored after the model trained on it:
the test score is optimistic, more so for the models that memorise best.
Public dermatology sets are known to hold the same lesion photo under two
file names.

## Example
```
images/isic_001.jpg,nevus,train
copies/isic_001_dup.jpg,nevus,test      // same bytes: error
```
Remove one of the two rows (or move both to one split).
"#;

pub const NEAR_CODE: &str = "exp::lint::near_duplicates";
pub const NEAR_DOC: &str = r#"
## What it does
With `--data` and `near_duplicates = true` on the data declaration: warns
about pairs of images in different splits whose 64-bit difference hashes
(a 9 × 8 grayscale thumbnail) differ in at most 6 bits — the same picture
resized, recompressed or slightly edited.

## Why is this bad
Near-duplicates leak like exact ones (the same lesion photographed twice,
a crop of a training image in test) but have different bytes. It is a
warning, not an error, because look-alike images are sometimes genuinely
different cases; inspect the pairs.

## Example
```
data derm { manifest = "m.csv"  near_duplicates = true }
```
Decoding every image makes this slower than the other data checks.
"#;

pub const IGNORED_CODE: &str = "exp::lint::ignored_files";
pub const IGNORED_DOC: &str = r#"
## What it does
With `--data`, for an image-folder layout: warns when files under the root
are not used — not an image format exp reads, hidden, or not inside a
`<split>/<class>/` directory — saying how many and why, with an example.
Subfolders of a class directory are descended into.

## Why is this bad
Files a user put there were meant to be used; a `.heic` export or a stray
archive silently shrinking a class changes the result without a word.

## Example
```
pets/train/cat/001.heic      // not read: warning
```
Convert the files to a format exp reads, or move them out of the root.
"#;

pub const SPLIT_CODE: &str = "exp::lint::missing_split";
pub const SPLIT_DOC: &str = r#"
## What it does
With `--data`: reports an **error** when a split a cell needs — `train`,
the recipe's selection split (`select.split`, default `val`) or the
score's split — is not in the data set.

## Why is this bad
The run would train to the end and then fail at selection or scoring
(`exp::data::unknown_split`): a manifest whose splits are `train`, `val`,
`testing` wastes the whole budget.

## Example
```
score s { split = "test" }      // the manifest's splits: train, val, testing
```
Rename the split in the manifest or in the score.
"#;

pub const POWER_CODE: &str = "exp::lint::test_split_power";
pub const POWER_DOC: &str = r#"
## What it does
With `--data`: for a sweep that compares two or more cells, warns when the
scored split is too small to tell them apart: the 95% confidence half-width
of a top-1 accuracy on n images, at the worst case p = 0.5,
1.96 · √(0.25 / n), is wider than 1 point (n < 9 604).

## Why is this bad
Backbones in a bake-off often differ by 1–3 points. On a 250-image test
sample the half-width is ±6 points: a "win" is noise, and a tie is
meaningless. The report's first round was misled exactly this way.

The help also says what seeds add: the seed-to-seed spread comes on top
of this half-width, and with one seed per configuration (no `seeds` axis,
no `replicates`) the report's configuration-level verdicts say
`single seed`.

## Example
```
score quick { split = "test" }     // test split of 250 images: ±6.2 points
```
Score on the full test split, or add images to it.
"#;

pub const WEIGHTS_CODE: &str = "exp::lint::missing_weights";
pub const WEIGHTS_DOC: &str = r#"
## What it does
With `--data`: reports an **error** when a backbone used by a sweep names
`pretrained` weights that are not on this machine: a local file that does
not exist, or a Hugging Face entry that is not in the local cache (exp never
downloads). The help says how to get them. For a standard-library backbone
the label is on the sweep's reference to it.

## Why is this bad
`exp run` would stop before training (`exp::exec::missing_weights`). Checked
here, the problem shows with the field that names the weights, before a
Slurm submission or a long queue wait.

## Example
```
backbone warm { arch = "resnet50"  pretrained = "weights/resnet50.safetensors" }   // no such file
```
Fetch the file (for a Hugging Face entry, the `hf download` command in the
help), fix the path, or drop `pretrained` to train from scratch.
"#;
