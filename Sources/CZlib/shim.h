// zlib for gzip-compressed MatrixMarket folders (matrix.mtx.gz, barcodes.tsv.gz, features.tsv.gz).
// gzopen/gzread read plain files unchanged, so one code path serves both.
#ifndef STGNN_CZLIB_SHIM_H
#define STGNN_CZLIB_SHIM_H
#include <zlib.h>
#endif
