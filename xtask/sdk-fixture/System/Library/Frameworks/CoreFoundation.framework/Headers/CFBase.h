/* Stand-in: CoreFoundation reference counting and the ownership annotation vmnet.h uses. */
#ifndef FIXTURE_CFBASE_H
#define FIXTURE_CFBASE_H

#ifndef __has_attribute
#define __has_attribute(x) 0
#endif

/* The function returns an object the caller owns (and releases with CFRelease). */
#ifndef CF_RETURNS_RETAINED
#if __has_attribute(cf_returns_retained)
#define CF_RETURNS_RETAINED __attribute__((cf_returns_retained))
#else
#define CF_RETURNS_RETAINED
#endif
#endif

typedef const void *CFTypeRef;
CFTypeRef CFRetain(CFTypeRef cf);
void CFRelease(CFTypeRef cf);
#endif
