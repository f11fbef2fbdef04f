/* Stand-in: CoreFoundation reference counting. */
#ifndef FIXTURE_CFBASE_H
#define FIXTURE_CFBASE_H
typedef const void *CFTypeRef;
CFTypeRef CFRetain(CFTypeRef cf);
void CFRelease(CFTypeRef cf);
#endif
