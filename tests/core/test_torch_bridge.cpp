// From safetensors views to LibTorch tensors: no copy when nothing changes, a conversion when asked.
#include <QTemporaryDir>
#include <QtTest>
#include "test_main.h"

#include <torch/types.h>

#include "deepstack/error.h"
#include "deepstack/safetensors.h"
#include "tensor/torch_bridge.h"
#include "test_files.h"

namespace test_torch_bridge {

using namespace deepstack;

class TestTorchBridge : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    std::filesystem::path path(const char* name) const { return std::filesystem::path(dir_.path().toStdString()) / name; }

private Q_SLOTS:
    void viewsTheMappingWithoutCopying() {
        const auto values = torch::arange(12, torch::kFloat32).reshape({3, 4});
        const auto bf16 = values.to(torch::kBFloat16).contiguous();
        write_safetensors(path("w.safetensors"),
                          {{"f32", DType::f32, {3, 4}, {static_cast<const std::byte*>(values.data_ptr()), 48}},
                           {"bf16", DType::bf16, {3, 4}, {static_cast<const std::byte*>(bf16.data_ptr()), 24}}});
        torch::Tensor kept;
        {
            const auto file = SafetensorsFile::open(path("w.safetensors"));
            const auto view = file.view("bf16");
            kept = tensor::to_torch(view);
            QVERIFY(tensor::shares_memory_with(kept, view));
            QCOMPARE(kept.scalar_type(), torch::kBFloat16);
            QCOMPARE(kept.sizes().vec(), (std::vector<int64_t>{3, 4}));

            const auto converted = tensor::to_torch(view, torch::kFloat32);
            QVERIFY(!tensor::shares_memory_with(converted, view));
            QVERIFY(torch::equal(converted, values));  // small integers are exact in bf16

            const auto f32 = tensor::to_torch(file.view("f32"));
            QVERIFY(torch::equal(f32, values));
        }
        // The tensor keeps the mapping alive after the file object is gone.
        QVERIFY(torch::equal(kept.to(torch::kFloat32), values));
    }

    void inPlaceWritesDoNotReachTheFile() {
        const auto values = torch::ones({4}, torch::kFloat32);
        write_safetensors(path("ones.safetensors"), {{"w", DType::f32, {4}, {static_cast<const std::byte*>(values.data_ptr()), 16}}});
        {
            const auto file = SafetensorsFile::open(path("ones.safetensors"));
            auto t = tensor::to_torch(file.view("w"));
            t.mul_(5);  // copy-on-write page: must neither crash nor change the file
            QCOMPARE(t[0].item<float>(), 5.0f);
        }
        const auto again = SafetensorsFile::open(path("ones.safetensors"));
        QCOMPARE(tensor::to_torch(again.view("w"))[0].item<float>(), 1.0f);
    }

    void unalignedDataIsCopied() {
        // A 9-byte header leaves the data area at offset 17: not a multiple of 4.
        const std::string header = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
        std::string padded = header + std::string((9 - (8 + header.size()) % 8 + 8) % 8 + 1, ' ');
        if ((8 + padded.size()) % 4 == 0) padded += ' ';
        float two[2] = {1.5f, -2.25f};
        deepstack::testing::write_file(path("odd.safetensors"),
                                       deepstack::testing::safetensors_bytes(padded, std::string(reinterpret_cast<char*>(two), 8)));
        const auto file = SafetensorsFile::open(path("odd.safetensors"));
        const auto view = file.view("w");
        QVERIFY(reinterpret_cast<std::uintptr_t>(view.data) % 4 != 0);
        const auto t = tensor::to_torch(view);
        QVERIFY(!tensor::shares_memory_with(t, view));
        QCOMPARE(t[1].item<float>(), -2.25f);
    }

    void unsupportedDTypeIsAClearError() {
        try {
            (void)tensor::torch_dtype(DType::u32);
            QFAIL("U32 has no LibTorch type");
        } catch (const Error& e) {
            QCOMPARE(e.kind(), ErrorKind::unsupported);
            QVERIFY(std::string(e.what()).find("U32") != std::string::npos);
        }
    }
};

DEEPSTACK_TEST_GUILESS_MAIN(TestTorchBridge)

}  // namespace test_torch_bridge
#include "test_torch_bridge.moc"
