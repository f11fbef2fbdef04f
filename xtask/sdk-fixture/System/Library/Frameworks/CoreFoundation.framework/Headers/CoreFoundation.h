/*
 * Stand-in: the CoreFoundation umbrella header. On Darwin it also brings in much of the C
 * library; here only the basic types and `struct iovec` (which vmnet.h's `struct vmpktdesc`
 * uses without including <sys/uio.h> itself).
 */
#ifndef FIXTURE_COREFOUNDATION_H
#define FIXTURE_COREFOUNDATION_H
#include <sys/types.h>
#include <sys/uio.h>
#include <CoreFoundation/CFBase.h>
#endif
