/* Stand-in: a 16-byte UUID. */
#ifndef FIXTURE_UUID_UUID_H
#define FIXTURE_UUID_UUID_H
typedef unsigned char uuid_t[16];
#endif
