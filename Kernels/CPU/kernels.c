#include "asth_kernels.h"
