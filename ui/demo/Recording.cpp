#include "demo/Recording.h"

#include "RgbImages.h"

#include <QBuffer>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSaveFile>

#include <cstring>

namespace deepstack::ui {

namespace {

constexpr const char* kFormat = "deepstack-studio-recording";

QString imageToBase64(const QImage& image) {
    QByteArray bytes;
    QBuffer buffer(&bytes);
    buffer.open(QIODevice::WriteOnly);
    image.save(&buffer, "PNG");
    return QString::fromLatin1(bytes.toBase64());
}

QImage imageFromBase64(const QJsonValue& value) {
    return QImage::fromData(QByteArray::fromBase64(value.toString().toLatin1()), "PNG").convertToFormat(QImage::Format_RGB888);
}

// Floats as base64 of their little-endian bytes: a capture holds hundreds of thousands of them.
QString floatsToBase64(const std::vector<float>& values) {
    return QString::fromLatin1(QByteArray(reinterpret_cast<const char*>(values.data()), static_cast<qsizetype>(values.size() * sizeof(float))).toBase64());
}

std::vector<float> floatsFromBase64(const QJsonValue& value) {
    const auto bytes = QByteArray::fromBase64(value.toString().toLatin1());
    std::vector<float> out(static_cast<std::size_t>(bytes.size()) / sizeof(float));
    std::memcpy(out.data(), bytes.constData(), out.size() * sizeof(float));
    return out;
}

QJsonArray regionsToJson(const std::vector<ImageRegion>& regions) {
    QJsonArray out;
    for (const auto& r : regions) out.append(QJsonArray{r.left, r.top, r.right, r.bottom});
    return out;
}

std::vector<ImageRegion> regionsFromJson(const QJsonArray& json) {
    std::vector<ImageRegion> out;
    for (const auto& v : json) {
        const auto a = v.toArray();
        out.push_back({a.at(0).toDouble(), a.at(1).toDouble(), a.at(2).toDouble(), a.at(3).toDouble()});
    }
    return out;
}

QJsonObject planToJson(const StackPlan& p) {
    QJsonArray groups;
    for (const auto& g : p.groups)
        groups.append(QJsonObject{{"label", QString::fromStdString(g.label)},
                                  {"source", QString::fromStdString(g.source)},
                                  {"vision", g.tower == Tower::vision},
                                  {"layer", static_cast<qint64>(g.layer)},
                                  {"before_layer", g.before_layer},
                                  {"ever_added", g.ever_added},
                                  {"grid", QJsonArray{static_cast<qint64>(g.grid_rows), static_cast<qint64>(g.grid_columns)}},
                                  {"offset", QJsonArray{static_cast<qint64>(g.offset_row), static_cast<qint64>(g.offset_column)}},
                                  {"stride", QJsonArray{static_cast<qint64>(g.stride_rows), static_cast<qint64>(g.stride_columns)}},
                                  {"regions", regionsToJson(g.regions)}});
    return {{"family", QString::fromStdString(p.family)},
            {"variant", QString::fromStdString(p.variant)},
            {"language_layers", static_cast<qint64>(p.language_layers)},
            {"vision_layers", static_cast<qint64>(p.vision_layers)},
            {"image", QJsonArray{static_cast<qint64>(p.image_width), static_cast<qint64>(p.image_height)}},
            {"input", QJsonArray{static_cast<qint64>(p.input_rows), static_cast<qint64>(p.input_columns)}},
            {"input_regions", regionsToJson(p.input_regions)},
            {"groups", groups}};
}

StackPlan planFromJson(const QJsonObject& o) {
    StackPlan p;
    p.family = o.value("family").toString().toStdString();
    p.variant = o.value("variant").toString().toStdString();
    p.language_layers = o.value("language_layers").toInteger();
    p.vision_layers = o.value("vision_layers").toInteger();
    p.image_width = o.value("image").toArray().at(0).toInteger();
    p.image_height = o.value("image").toArray().at(1).toInteger();
    p.input_rows = o.value("input").toArray().at(0).toInteger();
    p.input_columns = o.value("input").toArray().at(1).toInteger();
    p.input_regions = regionsFromJson(o.value("input_regions").toArray());
    for (const auto& v : o.value("groups").toArray()) {
        const auto g = v.toObject();
        StackGroup group;
        group.label = g.value("label").toString().toStdString();
        group.source = g.value("source").toString().toStdString();
        group.tower = g.value("vision").toBool() ? Tower::vision : Tower::language;
        group.layer = g.value("layer").toInteger();
        group.before_layer = g.value("before_layer").toBool();
        group.ever_added = g.value("ever_added").toBool();
        group.grid_rows = g.value("grid").toArray().at(0).toInteger();
        group.grid_columns = g.value("grid").toArray().at(1).toInteger();
        group.offset_row = g.value("offset").toArray().at(0).toInteger();
        group.offset_column = g.value("offset").toArray().at(1).toInteger();
        group.stride_rows = g.value("stride").toArray().at(0).toInteger();
        group.stride_columns = g.value("stride").toArray().at(1).toInteger();
        group.regions = regionsFromJson(g.value("regions").toArray());
        p.groups.push_back(std::move(group));
    }
    return p;
}

QJsonObject captureToJson(const AttentionCapture& c) {
    QJsonArray layers, queries, images;
    for (const auto l : c.layers) layers.append(static_cast<qint64>(l));
    for (const auto& q : c.queries)
        queries.append(QJsonObject{{"answer", q.kind == AttentionQuery::Kind::answer},
                                   {"position", static_cast<qint64>(q.position)},
                                   {"token", static_cast<qint64>(q.token)},
                                   {"text", QString::fromStdString(q.text)}});
    for (const auto& image : c.images)
        images.append(QJsonObject{{"plan", planToJson(image.plan)},
                                  {"png", imageToBase64(toQImage(image.image))},
                                  {"first_position", static_cast<qint64>(image.first_position)},
                                  {"first_column", static_cast<qint64>(image.first_column)}});
    return {{"family", QString::fromStdString(c.family)},
            {"variant", QString::fromStdString(c.variant)},
            {"language_layers", static_cast<qint64>(c.language_layers)},
            {"heads", static_cast<qint64>(c.heads)},
            {"layers", layers},
            {"queries", queries},
            {"images", images},
            {"visual_tokens", static_cast<qint64>(c.visual_tokens)},
            {"visual", floatsToBase64(c.visual)},
            {"elsewhere", floatsToBase64(c.elsewhere)}};
}

AttentionCapture captureFromJson(const QJsonObject& o) {
    AttentionCapture c;
    c.family = o.value("family").toString().toStdString();
    c.variant = o.value("variant").toString().toStdString();
    c.language_layers = o.value("language_layers").toInteger();
    c.heads = o.value("heads").toInteger();
    for (const auto& l : o.value("layers").toArray()) c.layers.push_back(l.toInteger());
    for (const auto& v : o.value("queries").toArray()) {
        const auto q = v.toObject();
        c.queries.push_back({q.value("answer").toBool() ? AttentionQuery::Kind::answer : AttentionQuery::Kind::question,
                             q.value("position").toInteger(), static_cast<TokenId>(q.value("token").toInteger()),
                             q.value("text").toString().toStdString()});
    }
    for (const auto& v : o.value("images").toArray()) {
        const auto i = v.toObject();
        AttentionImage image;
        image.plan = planFromJson(i.value("plan").toObject());
        image.image = toRgbImage(imageFromBase64(i.value("png")));
        image.first_position = i.value("first_position").toInteger();
        image.first_column = i.value("first_column").toInteger();
        c.images.push_back(std::move(image));
    }
    c.visual_tokens = o.value("visual_tokens").toInteger();
    c.visual = floatsFromBase64(o.value("visual"));
    c.elsewhere = floatsFromBase64(o.value("elsewhere"));
    return c;
}

// What would make the attention views read past the numbers: every count must agree with the others.
QString captureProblem(const AttentionCapture& c) {
    if (c.heads <= 0 || c.layers.empty() || c.queries.empty() || c.images.empty()) return QObject::tr("its attention has no numbers");
    for (const auto l : c.layers)
        if (l < 0 || l >= c.language_layers) return QObject::tr("its attention names a layer the model does not have");
    std::int64_t column = 0;
    for (const auto& image : c.images) {
        if (image.first_column != column || image.image.width <= 0 || image.image.height <= 0 ||
            image.plan.input_tokens() != static_cast<std::int64_t>(image.plan.input_regions.size()))
            return QObject::tr("its attention's pictures do not line up");
        for (const auto& g : image.plan.groups)
            if (static_cast<std::int64_t>(g.regions.size()) != image.plan.input_tokens() && g.tower == Tower::language)
                return QObject::tr("a stacked group's cells do not match the picture's tokens");
        column += image.plan.input_tokens();
    }
    if (column != c.visual_tokens || c.visual_tokens <= 0) return QObject::tr("its attention's tokens do not add up");
    const auto rows = c.queries.size() * c.layers.size() * static_cast<std::size_t>(c.heads);
    if (c.visual.size() != rows * static_cast<std::size_t>(c.visual_tokens) || c.elsewhere.size() != rows)
        return QObject::tr("its attention numbers do not match their shape");
    return {};
}

}  // namespace

bool saveRecording(const Recording& r, const QString& file, QString* error) {
    QJsonArray pages, exchanges;
    for (const auto& p : r.pages) pages.append(QJsonObject{{"name", p.name}, {"png", imageToBase64(p.image)}});
    for (const auto& e : r.exchanges) {
        QJsonArray pieces, pageIndexes;
        for (const auto& piece : e.pieces) pieces.append(QJsonArray{piece.atMs, piece.text});
        for (const auto i : e.pages) pageIndexes.append(i);
        const auto& t = e.timings;
        QJsonObject exchange{{"question", e.question},
                             {"pages", pageIndexes},
                             {"pieces", pieces},
                             {"answer", e.answer},
                             {"stop", e.stopReason},
                             {"total_ms", e.totalMs},
                             {"timings", QJsonObject{{"vision_ms", t.visionMs},
                                                     {"prefill_ms", t.prefillMs},
                                                     {"first_token_ms", t.timeToFirstTokenMs},
                                                     {"decode_tokens_per_s", t.decodeTokensPerSecond},
                                                     {"prompt_tokens", t.promptTokens},
                                                     {"image_tokens", t.imageTokens},
                                                     {"generated_tokens", t.generatedTokens}}}};
        if (e.attention) exchange.insert("attention", captureToJson(*e.attention));
        exchanges.append(exchange);
    }
    const QJsonObject root{{"format", kFormat}, {"version", 1}, {"model", r.model}, {"created", r.created.toString(Qt::ISODate)},
                           {"pages", pages}, {"exchanges", exchanges}};
    QSaveFile out(file);
    const auto bytes = QJsonDocument(root).toJson(QJsonDocument::Compact);
    if (!out.open(QIODevice::WriteOnly) || out.write(bytes) != bytes.size() || !out.commit()) {
        if (error != nullptr) *error = QObject::tr("%1 could not be written: %2").arg(file, out.errorString());
        return false;
    }
    return true;
}

std::optional<Recording> loadRecording(const QString& file, QString* error) {
    QFile in(file);
    if (!in.open(QIODevice::ReadOnly)) {
        if (error != nullptr) *error = QObject::tr("%1 cannot be read: %2").arg(file, in.errorString());
        return std::nullopt;
    }
    QJsonParseError parse;
    const auto json = QJsonDocument::fromJson(in.readAll(), &parse).object();
    if (json.value("format").toString() != kFormat) {
        if (error != nullptr)
            *error = QObject::tr("%1 is not a DeepStack Studio recording%2").arg(file, parse.error != QJsonParseError::NoError ? ": " + parse.errorString() : QString());
        return std::nullopt;
    }
    if (json.value("version").toInt() != 1) {
        if (error != nullptr) *error = QObject::tr("%1 is a recording of a newer version (%2) than this app reads (1)").arg(file).arg(json.value("version").toInt());
        return std::nullopt;
    }
    Recording r;
    r.model = json.value("model").toString();
    r.created = QDateTime::fromString(json.value("created").toString(), Qt::ISODate);
    for (const auto& v : json.value("pages").toArray()) {
        const auto p = v.toObject();
        r.pages.append({p.value("name").toString(), imageFromBase64(p.value("png"))});
        if (r.pages.back().image.isNull()) {
            if (error != nullptr) *error = QObject::tr("%1 is damaged: the picture of %2 cannot be read").arg(file, r.pages.back().name);
            return std::nullopt;
        }
    }
    for (const auto& v : json.value("exchanges").toArray()) {
        const auto o = v.toObject();
        RecordedExchange e;
        e.question = o.value("question").toString();
        for (const auto& i : o.value("pages").toArray()) {
            if (i.toInt() < 0 || i.toInt() >= r.pages.size()) {
                if (error != nullptr) *error = QObject::tr("%1 is damaged: an exchange names a page it does not hold").arg(file);
                return std::nullopt;
            }
            e.pages.append(i.toInt());
        }
        for (const auto& p : o.value("pieces").toArray()) e.pieces.append({p.toArray().at(0).toDouble(), p.toArray().at(1).toString()});
        e.answer = o.value("answer").toString();
        e.stopReason = o.value("stop").toString();
        e.totalMs = o.value("total_ms").toDouble();
        const auto t = o.value("timings").toObject();
        e.timings = {t.value("vision_ms").toDouble(),           t.value("prefill_ms").toDouble(),      t.value("first_token_ms").toDouble(),
                     t.value("decode_tokens_per_s").toDouble(), t.value("prompt_tokens").toInteger(), t.value("image_tokens").toInteger(),
                     t.value("generated_tokens").toInteger()};
        if (o.contains("attention")) {
            auto capture = captureFromJson(o.value("attention").toObject());
            if (const auto problem = captureProblem(capture); !problem.isEmpty()) {
                if (error != nullptr) *error = QObject::tr("%1 is damaged: %2").arg(file, problem);
                return std::nullopt;
            }
            e.attention = std::make_shared<const AttentionCapture>(std::move(capture));
        }
        r.exchanges.append(std::move(e));
    }
    return r;
}

}  // namespace deepstack::ui
