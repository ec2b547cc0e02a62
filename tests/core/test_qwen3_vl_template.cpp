// Qwen3-VL's chat template in code against transformers rendering the Jinja template
// (tests/reference/make_chat_template_fixture.py).
#include <QtTest>
#include "test_main.h"

#include <nlohmann/json.hpp>

#include "models/qwen3_vl/chat_template.h"
#include "test_files.h"

namespace test_qwen3_vl_template {

using namespace deepstack;

namespace {
// A message of the fixture's "content" (a string, or a list of image and text items) as the engine's Message.
Message to_message(const nlohmann::json& content) {
    Message m{Message::Role::user, "", {}};
    if (content.is_string()) {
        m.text = content.get<std::string>();
        return m;
    }
    for (const auto& item : content) {
        if (item.at("type") == "image") m.images.emplace_back();
        else m.text += item.at("text").get<std::string>();
    }
    return m;
}
}  // namespace

class TestQwen3VLTemplate : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void matchesTheJinjaTemplate() {
        const auto fixture = nlohmann::json::parse(testing::read_file(testing::data_dir() / "fixtures" / "qwen3_vl_chat_template.json"));
        for (const auto& c : fixture.at("cases")) {
            std::string system, rendered;
            bool first = true;
            for (const auto& m : c.at("messages")) {
                const auto role = m.at("role").get<std::string>();
                if (role == "system") {
                    system = m.at("content").get<std::string>();
                } else if (role == "user") {
                    rendered += qwen3_vl::render_user_turn(system, first, to_message(m.at("content")));
                    first = false;
                } else {
                    rendered += m.at("content").get<std::string>() + qwen3_vl::kReplyEnd;
                }
            }
            QVERIFY2(rendered == c.at("rendered").get<std::string>(), (c.at("name").get<std::string>() + ":\n" + rendered).c_str());
        }
    }
};

DEEPSTACK_TEST_GUILESS_MAIN(TestQwen3VLTemplate)

}  // namespace test_qwen3_vl_template
#include "test_qwen3_vl_template.moc"
