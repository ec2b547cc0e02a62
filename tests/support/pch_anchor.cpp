// The target that owns the precompiled LibTorch + Qt Test header the torch test suites reuse
// (tests/CMakeLists.txt); it is never linked into anything or run.
int main() { return 0; }
