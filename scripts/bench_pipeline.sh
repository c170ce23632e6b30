# Sourced by scripts/bench_train.sh and scripts/bench_ddp.sh: the pipeline
# both train, so their exp side is one file.
#
#   bench_pipeline ARCH EPOCHS TRAIN VAL TEST > bench.exp
#
# A generated 5-class 64 px image folder (TRAIN/VAL/TEST samples) under
# `data/`, one backbone ARCH at 64 px from random init, AdamW lr 1e-3 wd 0.05
# at a constant lr, batch 32, EPOCHS finetune epochs, top-1 on the test split.
bench_pipeline() {
  cat <<EXP
data images {
  source = generated(classes = 5, train = $3 samples, val = $4 samples, test = $5 samples,
                     size = 64, seed = 11, image_signal = 0.8, metadata_signal = 0.0)
  root = "data"
  image_size = 64
}

backbone net {
  arch       = "$1"
  input_size = 64
  mean       = [0.485, 0.456, 0.406]
  std        = [0.229, 0.224, 0.225]
}

recipe plain {
  optimizer = adamw(lr = 1e-3, finetune_lr = 1e-3, weight_decay = 0.05)
  schedule  = constant
  warmup    = 0 steps
  batch     = 32
}

budget b {
  frozen   = 0 epochs
  finetune = $2 epochs
}

score test {
  split   = "test"
  metrics = [top1]
}

sweep bench {
  data     = images
  backbone = net
  recipe   = plain
  budget   = b
  score    = test
}
EXP
}
