#ifndef CMPI_SHIM_H
#define CMPI_SHIM_H
// The MPI C API (Open MPI's mpi.h, found with pkg-config ompi-c). Open MPI defines its handles
// (MPI_COMM_WORLD, MPI_FLOAT, MPI_ERRORS_RETURN, ...) as casts of addresses, which Swift cannot
// import as macros: these inline functions hand them to Swift.
#include <mpi.h>

static inline MPI_Comm cmpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype cmpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype cmpi_byte(void) { return MPI_BYTE; }
static inline MPI_Datatype cmpi_uint64(void) { return MPI_UINT64_T; }
static inline MPI_Errhandler cmpi_errors_return(void) { return MPI_ERRORS_RETURN; }
static inline int cmpi_success(void) { return MPI_SUCCESS; }
static inline int cmpi_thread_funneled(void) { return MPI_THREAD_FUNNELED; }
static inline int cmpi_max_error_string(void) { return MPI_MAX_ERROR_STRING; }
#endif
