/* libsodium for NetFTCore's frame authentication: pure computation, no I/O. */
#include <sodium.h>
