// HDF5's predefined types and property-list defaults are macros over library globals
// (H5T_NATIVE_FLOAT expands to H5OPEN H5T_NATIVE_FLOAT_g); Swift cannot import them.
#ifndef STGNN_CHDF5_SHIM_H
#define STGNN_CHDF5_SHIM_H
#include <hdf5.h>

static inline hid_t sth5_native_float(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t sth5_native_double(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t sth5_native_int8(void) { return H5T_NATIVE_INT8; }
static inline hid_t sth5_native_uint8(void) { return H5T_NATIVE_UINT8; }
static inline hid_t sth5_native_int16(void) { return H5T_NATIVE_INT16; }
static inline hid_t sth5_native_int32(void) { return H5T_NATIVE_INT32; }
static inline hid_t sth5_native_int64(void) { return H5T_NATIVE_INT64; }
static inline hid_t sth5_native_uint32(void) { return H5T_NATIVE_UINT32; }
static inline hid_t sth5_native_uint64(void) { return H5T_NATIVE_UINT64; }
static inline hid_t sth5_c_s1(void) { return H5T_C_S1; }
static inline hid_t sth5_std_ref_obj(void) { return H5T_STD_REF_OBJ; }
static inline hid_t sth5_p_default(void) { return H5P_DEFAULT; }
static inline hid_t sth5_p_dataset_create(void) { return H5P_DATASET_CREATE; }
static inline hid_t sth5_p_link_create(void) { return H5P_LINK_CREATE; }
static inline unsigned sth5_f_acc_rdonly(void) { return H5F_ACC_RDONLY; }
static inline unsigned sth5_f_acc_trunc(void) { return H5F_ACC_TRUNC; }
static inline unsigned sth5_f_acc_rdwr(void) { return H5F_ACC_RDWR; }
static inline hid_t sth5_s_all(void) { return H5S_ALL; }
static inline size_t sth5_variable(void) { return H5T_VARIABLE; }
static inline hid_t sth5_p_dataset_access(void) { return H5P_DATASET_ACCESS; }
static inline hid_t sth5_std_i8le(void) { return H5T_STD_I8LE; }
static inline hid_t sth5_std_i16le(void) { return H5T_STD_I16LE; }
static inline hid_t sth5_std_i32le(void) { return H5T_STD_I32LE; }
static inline hid_t sth5_std_i64le(void) { return H5T_STD_I64LE; }
static inline hid_t sth5_std_u8le(void) { return H5T_STD_U8LE; }
static inline hid_t sth5_ieee_f32le(void) { return H5T_IEEE_F32LE; }
static inline hid_t sth5_ieee_f64le(void) { return H5T_IEEE_F64LE; }
static inline H5R_type_t sth5_r_object(void) { return H5R_OBJECT; }
static inline H5S_seloper_t sth5_s_select_set(void) { return H5S_SELECT_SET; }
static inline H5S_seloper_t sth5_s_select_or(void) { return H5S_SELECT_OR; }
// File-access list that keeps HDF5's file locking but ignores it where the file system has it
// disabled (Lustre/NFS mounts on clusters), where HDF5 ≥ 1.10.7 would otherwise refuse to open.
static inline hid_t sth5_fapl_tolerant_locking(void) {
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
#if H5_VERSION_GE(1, 10, 7)
    if (fapl >= 0) H5Pset_file_locking(fapl, 1, 1);
#endif
    return fapl;
}
// Silence HDF5's automatic error-stack printing: errors are reported by the caller, once.
static inline void sth5_silence_errors(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }
#endif
