//! Training: optimizers, schedules, phases, early stopping. (Being built: issue 5.)
