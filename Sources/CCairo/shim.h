// Cairo's API is plain C functions and enums, which Swift imports directly; this header only
// gathers the includes (image surfaces, PNG I/O and the toy text API all live in cairo.h).
#ifndef STGNN_CCAIRO_SHIM_H
#define STGNN_CCAIRO_SHIM_H
#include <cairo.h>
#endif
