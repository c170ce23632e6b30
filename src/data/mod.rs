//! Data: manifests, image folders, subsets, decode cache, augmentation, loader. (Being built: issue 3.)
