/* Stand-in: scatter/gather element, as on Darwin. */
#ifndef FIXTURE_SYS_UIO_H
#define FIXTURE_SYS_UIO_H
#include <sys/types.h>
struct iovec {
	void *iov_base;
	size_t iov_len;
};
#endif
