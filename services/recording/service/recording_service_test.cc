// RecordingService through a real in-process gRPC server, on SQLite in memory and a temp media
// volume: roles, upload (good and bad), playback, hold, erase, retention, audit.
#include "recording/service/recording_service.h"

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "recording/storage/audit_chain.h"
#include "recording/storage/open_store.h"

namespace sb::recording {
namespace {

namespace fs = std::filesystem;
constexpr int64_t kDay = 86400000;

class NullEvents : public RecordingEvents {
 public:
  void RecordingChanged(const storage::Recording&) override { ++changes; }
  void AuditAppended(const storage::AuditEntry& e) override { head = e.seq; }
  int changes = 0;
  int64_t head = 0;
};

class RecordingServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("sb-recording-service-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    auto store = storage::OpenStore("sqlite::memory:");
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    volume_ = std::make_unique<storage::MediaVolume>(dir_.string());
    intake_ = std::make_unique<RecordingIntake>(store_.get(), &events_, &metrics_, RecordPolicy{});
    RecordingServiceOptions o;
    o.max_upload_bytes = 1000;
    o.play_chunk_bytes = 7;
    o.now_ms = [this] { return now_ms_; };
    service_ = std::make_unique<RecordingServiceImpl>(store_.get(), volume_.get(), intake_.get(),
                                                      &events_, &metrics_, o);
    grpc::ServerBuilder builder;
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    stub_ = v1::RecordingService::NewStub(server_->InProcessChannel(grpc::ChannelArguments()));
  }
  void TearDown() override {
    server_->Shutdown();
    fs::remove_all(dir_);
  }

  static v1::Principal P(const std::string& role, const std::string& subject,
                         std::vector<std::string> teams = {}) {
    v1::Principal p;
    p.set_role(role);
    p.set_subject(subject);
    for (auto& t : teams) p.add_teams(t);
    return p;
  }
  v1::Recording Start(const std::string& call, const std::string& customer = "cust-1") {
    grpc::ClientContext ctx;
    v1::StartRecordingRequest r;
    r.set_tenant_id("acme");
    *r.mutable_principal() = P("admin", "media");
    r.set_interaction_id(call);
    r.set_queue_id("support");
    r.set_agent_id("ann");
    r.set_customer_id(customer);
    v1::Recording out;
    EXPECT_TRUE(stub_->StartRecording(&ctx, r, &out).ok());
    return out;
  }
  grpc::Status Upload(const std::string& id,
                      const std::vector<std::pair<int64_t, std::string>>& chunks,
                      const std::string& sha, int64_t total, v1::UploadMediaResponse* out) {
    grpc::ClientContext ctx;
    auto writer = stub_->UploadMedia(&ctx, out);
    bool first = true;
    for (const auto& [seq, data] : chunks) {
      v1::MediaChunk c;
      if (first) {
        auto* h = c.mutable_header();
        h->set_tenant_id("acme");
        *h->mutable_principal() = P("admin", "media");
        h->set_recording_id(id);
        h->set_total_bytes(total);
        h->set_sha256(sha);
        first = false;
      }
      c.set_seq(seq);
      c.set_data(data);
      if (!writer->Write(c)) break;
    }
    writer->WritesDone();
    return writer->Finish();
  }
  std::string Play(const std::string& id, const v1::Principal& p, grpc::Status* status) {
    grpc::ClientContext ctx;
    v1::PlayRecordingRequest r;
    r.set_tenant_id("acme");
    *r.mutable_principal() = p;
    r.set_recording_id(id);
    auto reader = stub_->PlayRecording(&ctx, r);
    std::string data;
    v1::MediaChunk c;
    int64_t seq = 0;
    while (reader->Read(&c)) {
      EXPECT_EQ(c.seq(), seq++);
      data += c.data();
    }
    *status = reader->Finish();
    return data;
  }
  std::vector<std::string> MediaFiles() {
    std::vector<std::string> out;
    for (auto& e : fs::recursive_directory_iterator(dir_)) {
      if (e.is_regular_file()) out.push_back(e.path().filename().string());
    }
    return out;
  }

  fs::path dir_;
  int64_t now_ms_ = 1700000000000;
  std::unique_ptr<storage::RecordingStore> store_;
  std::unique_ptr<storage::MediaVolume> volume_;
  NullEvents events_;
  RecordingMetrics metrics_;
  std::unique_ptr<RecordingIntake> intake_;
  std::unique_ptr<RecordingServiceImpl> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::RecordingService::Stub> stub_;
};

TEST_F(RecordingServiceTest, UploadPlayAndAudit) {
  Start("c1");
  const std::string media = "hello, recorded world";
  v1::UploadMediaResponse up;
  grpc::Status s = Upload("c1/rec", {{0, media.substr(0, 10)}, {1, media.substr(10)}},
                          storage::Sha256::Hex(media), media.size(), &up);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(up.bytes(), static_cast<int64_t>(media.size()));
  EXPECT_EQ(up.chunks(), 2);
  EXPECT_EQ(MediaFiles(), std::vector<std::string>{"c1_2Frec.media"});

  // The agent plays their own recording; another agent may not; a supervisor without a review
  // of their team may not.
  grpc::Status play;
  EXPECT_EQ(Play("c1/rec", P("agent", "ann"), &play), media);
  EXPECT_TRUE(play.ok()) << play.error_message();
  Play("c1/rec", P("agent", "bob"), &play);
  EXPECT_EQ(play.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(absl::StartsWith(play.error_message(), "NOT_OWN:")) << play.error_message();
  Play("c1/rec", P("supervisor", "sue", {"t1"}), &play);
  EXPECT_EQ(play.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Play("c1/rec", P("qa_reviewer", "quinn"), &play), media);

  auto audit = store_->ListAudit("acme", "c1/rec");
  std::vector<std::string> actions;
  for (auto& e : *audit) actions.push_back(e.action);
  EXPECT_EQ(actions, (std::vector<std::string>{"start", "upload", "play", "play"}));

  grpc::ClientContext ctx;
  v1::VerifyAuditRequest vr;
  *vr.mutable_principal() = P("admin", "root");
  v1::VerifyAuditResponse verified;
  ASSERT_TRUE(stub_->VerifyAudit(&ctx, vr, &verified).ok());
  EXPECT_TRUE(verified.ok());
  EXPECT_EQ(verified.entries_checked(), 4);

  grpc::ClientContext ctx2;
  v1::ListAuditRequest lr;
  *lr.mutable_principal() = P("admin", "root");
  lr.set_tenant_id("acme");
  lr.set_recording_id("c1/rec");
  lr.set_after_seq(1);
  v1::ListAuditResponse listed;
  ASSERT_TRUE(stub_->ListAudit(&ctx2, lr, &listed).ok());
  ASSERT_EQ(listed.entries_size(), 3);
  EXPECT_EQ(listed.entries(0).action(), "upload");
}

TEST_F(RecordingServiceTest, BadUploadsStoreNothing) {
  Start("c2");
  const std::string media = "0123456789";
  v1::UploadMediaResponse up;
  grpc::Status s =
      Upload("c2/rec", {{0, "01234"}, {2, "56789"}}, storage::Sha256::Hex(media), 10, &up);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StartsWith(s.error_message(), "CHUNK_OUT_OF_ORDER:")) << s.error_message();
  s = Upload("c2/rec", {{0, "01234"}, {1, "56789"}}, storage::Sha256::Hex("other"), 10, &up);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DATA_LOSS);
  EXPECT_TRUE(absl::StartsWith(s.error_message(), "CHECKSUM_MISMATCH:")) << s.error_message();
  const std::string big(600, 'x');
  s = Upload("c2/rec", {{0, big}, {1, big}}, storage::Sha256::Hex(big + big), 0, &up);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_TRUE(absl::StartsWith(s.error_message(), "TOO_LARGE:")) << s.error_message();
  s = Upload("c2/rec", {{0, big}}, storage::Sha256::Hex(big), 5000, &up);  // declared too large
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  s = Upload("nope", {{0, media}}, storage::Sha256::Hex(media), 10, &up);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(MediaFiles().empty());
  EXPECT_FALSE(store_->GetRecording("acme", "c2/rec")->media.has_value());
  EXPECT_NE(metrics_.Serialize().find(
                "switchboard_recording_upload_errors_total{reason=\"CHECKSUM_MISMATCH\"} 1"),
            std::string::npos);
  // Wrong role: an agent cannot upload.
  grpc::ClientContext ctx;
  v1::UploadMediaResponse out;
  auto writer = stub_->UploadMedia(&ctx, &out);
  v1::MediaChunk c;
  c.mutable_header()->set_tenant_id("acme");
  *c.mutable_header()->mutable_principal() = P("agent", "ann");
  c.mutable_header()->set_recording_id("c2/rec");
  c.mutable_header()->set_sha256(storage::Sha256::Hex(media));
  c.set_data(media);
  writer->Write(c);
  writer->WritesDone();
  s = writer->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(absl::StartsWith(s.error_message(), "ROLE:")) << s.error_message();
}

TEST_F(RecordingServiceTest, EraseRemovesMediaExceptOnHold) {
  Start("c3", "cust-x");
  Start("c4", "cust-x");
  for (const char* id : {"c3/rec", "c4/rec"}) {
    v1::UploadMediaResponse up;
    ASSERT_TRUE(Upload(id, {{0, "abc"}}, storage::Sha256::Hex("abc"), 3, &up).ok());
  }
  grpc::ClientContext hold_ctx;
  v1::SetLegalHoldRequest hold;
  hold.set_tenant_id("acme");
  *hold.mutable_principal() = P("admin", "legal");
  hold.set_recording_id("c4/rec");
  hold.set_hold(true);
  hold.set_reason("case 42");
  v1::Recording held;
  ASSERT_TRUE(stub_->SetLegalHold(&hold_ctx, hold, &held).ok());
  EXPECT_TRUE(held.legal_hold());

  grpc::ClientContext ctx;
  v1::EraseCustomerRequest er;
  er.set_tenant_id("acme");
  *er.mutable_principal() = P("admin", "privacy");
  er.set_customer_id("cust-x");
  v1::EraseCustomerResponse erased;
  ASSERT_TRUE(stub_->EraseCustomer(&ctx, er, &erased).ok());
  EXPECT_EQ(std::vector<std::string>(erased.erased_recording_ids().begin(),
                                     erased.erased_recording_ids().end()),
            std::vector<std::string>{"c3/rec"});
  EXPECT_EQ(erased.held_recording_ids_size(), 1);
  EXPECT_EQ(MediaFiles(), std::vector<std::string>{"c4_2Frec.media"});
  auto rec = store_->GetRecording("acme", "c3/rec");
  EXPECT_EQ(rec->state, storage::RecordingState::kErased);
  EXPECT_TRUE(rec->customer_id.empty());
  // A supervisor cannot erase.
  grpc::ClientContext ctx2;
  *er.mutable_principal() = P("supervisor", "sue");
  EXPECT_EQ(stub_->EraseCustomer(&ctx2, er, &erased).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(RecordingServiceTest, RetentionDeletesExpiredMedia) {
  Start("c5");
  v1::UploadMediaResponse up;
  ASSERT_TRUE(Upload("c5/rec", {{0, "abc"}}, storage::Sha256::Hex("abc"), 3, &up).ok());
  grpc::ClientContext ctx;
  v1::PutRetentionRuleRequest pr;
  pr.set_tenant_id("acme");
  *pr.mutable_principal() = P("admin", "root");
  pr.mutable_rule()->set_days(30);
  v1::RetentionRule rule;
  ASSERT_TRUE(stub_->PutRetentionRule(&ctx, pr, &rule).ok());
  now_ms_ += 31 * kDay;
  grpc::ClientContext ctx2;
  v1::RunRetentionRequest rr;
  rr.set_tenant_id("acme");
  *rr.mutable_principal() = P("admin", "root");
  v1::RunRetentionResponse ran;
  ASSERT_TRUE(stub_->RunRetention(&ctx2, rr, &ran).ok());
  ASSERT_EQ(ran.deleted_recording_ids_size(), 1);
  EXPECT_TRUE(MediaFiles().empty());
  EXPECT_EQ(store_->GetRecording("acme", "c5/rec")->state, storage::RecordingState::kDeleted);
}

TEST_F(RecordingServiceTest, UnknownIdsAndMissingPrincipals) {
  grpc::ClientContext ctx;
  v1::GetRecordingRequest g;
  g.set_tenant_id("acme");
  *g.mutable_principal() = P("admin", "root");
  g.set_recording_id("missing");
  v1::Recording out;
  EXPECT_EQ(stub_->GetRecording(&ctx, g, &out).error_code(), grpc::StatusCode::NOT_FOUND);
  grpc::ClientContext ctx2;
  g.clear_principal();
  EXPECT_EQ(stub_->GetRecording(&ctx2, g, &out).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  grpc::ClientContext ctx3;
  *g.mutable_principal() = P("janitor", "x");
  EXPECT_EQ(stub_->GetRecording(&ctx3, g, &out).error_code(), grpc::StatusCode::PERMISSION_DENIED);
}

}  // namespace
}  // namespace sb::recording
