// Open MPI's handles are macros over global objects that Swift cannot import; these getters expose them.
#ifndef STGNN_CMPI_SHIM_H
#define STGNN_CMPI_SHIM_H
#include <mpi.h>

static inline MPI_Comm stmpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Comm stmpi_comm_null(void) { return MPI_COMM_NULL; }
static inline MPI_Datatype stmpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype stmpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype stmpi_int32(void) { return MPI_INT32_T; }
static inline MPI_Datatype stmpi_int64(void) { return MPI_INT64_T; }
static inline MPI_Datatype stmpi_uint8(void) { return MPI_UINT8_T; }
static inline MPI_Datatype stmpi_byte(void) { return MPI_BYTE; }
static inline MPI_Op stmpi_sum(void) { return MPI_SUM; }
static inline MPI_Op stmpi_max(void) { return MPI_MAX; }
static inline MPI_Op stmpi_min(void) { return MPI_MIN; }
static inline void *stmpi_in_place(void) { return MPI_IN_PLACE; }
static inline MPI_Request stmpi_request_null(void) { return MPI_REQUEST_NULL; }
static inline MPI_Status *stmpi_status_ignore(void) { return MPI_STATUS_IGNORE; }
static inline MPI_Status *stmpi_statuses_ignore(void) { return MPI_STATUSES_IGNORE; }
static inline int stmpi_any_source(void) { return MPI_ANY_SOURCE; }
static inline int stmpi_any_tag(void) { return MPI_ANY_TAG; }
static inline int stmpi_success(void) { return MPI_SUCCESS; }
static inline int stmpi_thread_funneled(void) { return MPI_THREAD_FUNNELED; }
static inline int stmpi_thread_serialized(void) { return MPI_THREAD_SERIALIZED; }
static inline MPI_Errhandler stmpi_errors_are_fatal(void) { return MPI_ERRORS_ARE_FATAL; }
static inline MPI_Errhandler stmpi_errors_return(void) { return MPI_ERRORS_RETURN; }
static inline int stmpi_max_error_string(void) { return MPI_MAX_ERROR_STRING; }
static inline int stmpi_err_in_status(void) { return MPI_ERR_IN_STATUS; }

#endif
