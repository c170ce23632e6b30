// See gloo_decls/gloo/README.md: names only, for ProcessGroupGloo.hpp.
#pragma once
#include "gloo/rendezvous/store.h"
