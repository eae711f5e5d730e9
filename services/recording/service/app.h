// sb-recording's main: flags, the store, the media volume, the QA configuration, Kafka (ingest
// and sb.recording.events.v1), gRPC (RecordingService; ReviewService and FeedbackService when
// built in), /metrics, housekeeping (store gauges, retention) and shutdown.
#pragma once

namespace sb::recording {

int RunRecordingApp(int argc, char** argv);

}  // namespace sb::recording
