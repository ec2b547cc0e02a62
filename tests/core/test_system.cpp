// What the core reads off the machine, and the BLAS kernels it asks for: Debian's OpenBLAS 0.3.21 runs SSE3
// kernels on a Sapphire Rapids Xeon (it calls it "Prescott") and AVX2 ones on an AVX-512 EPYC.
#include <QtTest>
#include "test_main.h"

#include "deepstack/system.h"

namespace test_system {

using namespace deepstack;

class TestSystem : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void betterKernelsFollowTheCpuFeatures() {
        CpuInfo sapphire_rapids{"Intel(R) Xeon(R) Platinum 8488C", 2,
                                {"avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd", "avx512_bf16", "avx512_vnni"}};
        QCOMPARE(better_blas_kernels(sapphire_rapids, "Prescott"), std::string("SkylakeX"));
        QCOMPARE(better_blas_kernels(sapphire_rapids, "Haswell"), std::string("SkylakeX"));
        QCOMPARE(better_blas_kernels(sapphire_rapids, "Zen"), std::string("SkylakeX"));
        QCOMPARE(better_blas_kernels(sapphire_rapids, "SkylakeX"), std::string());
        QCOMPARE(better_blas_kernels(sapphire_rapids, "Cooperlake"), std::string());
        QCOMPARE(better_blas_kernels(sapphire_rapids, "sapphirerapids"), std::string());

        CpuInfo avx2_epyc{"AMD EPYC 7B13", 2, {"avx2", "fma", "f16c"}};
        QCOMPARE(better_blas_kernels(avx2_epyc, "Prescott"), std::string("Haswell"));
        QCOMPARE(better_blas_kernels(avx2_epyc, "Zen"), std::string());
        QCOMPARE(better_blas_kernels(avx2_epyc, "Haswell"), std::string());

        // AVX-512 without all of BW/VL/DQ/CD (Knights Landing) has no SkylakeX kernels.
        CpuInfo partial{"Xeon Phi", 2, {"avx2", "fma", "avx512f", "avx512cd"}};
        QCOMPARE(better_blas_kernels(partial, "Prescott"), std::string("Haswell"));
        CpuInfo old{"Core 2", 2, {}};
        QCOMPARE(better_blas_kernels(old, "Prescott"), std::string());
    }

    void thisMachineIsDescribed() {
        const auto cpu = cpu_info();
        QVERIFY(cpu.cores >= 1);
        for (const auto& feature : cpu.features) QVERIFY(cpu.has(feature));
        QVERIFY(!cpu.has("no_such_feature"));
        const auto line = describe_cpu_and_blas();
        QVERIFY2(line.find(std::to_string(cpu.cores) + " cores") != std::string::npos, line.c_str());
        // OpenBLAS is named with its kernels when it is loaded (OpenCV may bring it), and not at all when not.
        const auto blas = blas_info();
        if (blas.kernels.empty()) QVERIFY2(line.find("BLAS") == std::string::npos, line.c_str());
        else QVERIFY2(line.find("BLAS: " + blas.library + ", " + blas.kernels + " kernels") != std::string::npos, line.c_str());
    }
};

DEEPSTACK_TEST_GUILESS_MAIN(TestSystem)

}  // namespace test_system
#include "test_system.moc"
