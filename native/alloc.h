// Process-wide malloc settings (native/alloc.cc), applied by whichever addon loads first (and again,
// harmlessly, by the second).
#pragma once

namespace llp {

// Raises glibc's mmap and trim thresholds, turns mmap off and reserves a huge-page heap span;
// false (nothing changed) where MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_ or MALLOC_MMAP_MAX_ is set.
bool TuneAllocator();

}  // namespace llp
