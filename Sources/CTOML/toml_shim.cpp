#include "asth_toml.h"
