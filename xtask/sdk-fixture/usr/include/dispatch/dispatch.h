/* Stand-in: the dispatch queue handle, as it appears when compiling C. */
#ifndef FIXTURE_DISPATCH_DISPATCH_H
#define FIXTURE_DISPATCH_DISPATCH_H
#include <sys/types.h>
typedef struct dispatch_queue_s *dispatch_queue_t;
#endif
