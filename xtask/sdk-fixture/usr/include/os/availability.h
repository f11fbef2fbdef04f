/* Stand-in: availability annotations carry no meaning for the generated bindings. */
#ifndef FIXTURE_OS_AVAILABILITY_H
#define FIXTURE_OS_AVAILABILITY_H
#define API_AVAILABLE(...)
#define API_DEPRECATED(...)
#define API_DEPRECATED_WITH_REPLACEMENT(...)
#define API_UNAVAILABLE(...)
#endif
