#ifndef ASTH_KERNELS_H
#define ASTH_KERNELS_H
#endif
