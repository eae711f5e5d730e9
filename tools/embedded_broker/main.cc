// sb-embedded-broker: librdkafka's mock Kafka cluster as a process, with Switchboard's topics and
// a fault-injection control protocol. See README.md and docs/embedded-broker.md.
#include <unistd.h>

#include <cstdio>
#include <string>
#include <utility>

#include "CLI/CLI.hpp"
#include "embedded_broker/command.h"
#include "embedded_broker/embedded_broker.h"
#include "embedded_broker/mock_cluster.h"
#include "embedded_broker/text_util.h"

int main(int argc, char** argv) {
  sb::broker::EmbeddedBrokerOptions options;
  std::string topics;
  for (const std::string& topic : sb::broker::DefaultTopics()) {
    topics += (topics.empty() ? "" : ",") + topic;
  }
  int control_port = -1;

  CLI::App app{
      "sb-embedded-broker: an in-memory Kafka-protocol cluster (librdkafka's mock cluster) with "
      "Switchboard's topics, for the embedded mode and for tests. Prints bootstrap=HOST:PORT,... "
      "on stdout, then reads fault commands on stdin (and the control port).",
      "sb-embedded-broker"};
  app.add_option("--brokers", options.cluster.brokers, "Number of brokers (ids 1..N)")
      ->capture_default_str()
      ->check(CLI::Range(1, sb::broker::kMaxBrokers));
  app.add_option("--partitions", options.cluster.partitions, "Partitions of every topic")
      ->capture_default_str()
      ->check(CLI::Range(1, sb::broker::kMaxPartitions));
  app.add_option("--topics", topics, "Comma-separated topics to create (replaces the defaults)")
      ->capture_default_str();
  app.add_option("--bootstrap-file", options.bootstrap_file,
                 "Also write HOST:PORT,... to this file (atomically; removed on exit)");
  app.add_option("--control-port", control_port,
                 "Serve the control commands on 127.0.0.1:PORT too; 0 picks a free port, printed "
                 "as control=127.0.0.1:PORT")
      ->check(CLI::Range(0, 65535));
  app.add_flag("--ignore-stdin-eof", options.ignore_stdin_eof,
               "Keep running when stdin ends (e.g. started with </dev/null); stop it with SIGTERM");
  app.footer(
      "Control commands, one per line, each answered by one line 'ok ...' or 'error REASON: what "
      "to fix':\n  " +
      sb::broker::HelpText() +
      "\n\nExamples:\n"
      "  sb-embedded-broker --partitions 4 --bootstrap-file /tmp/sb/bootstrap\n"
      "  sb-embedded-broker --brokers 3 --control-port 0 --ignore-stdin-eof </dev/null &\n"
      "    then: echo 'broker down 2' | nc 127.0.0.1 PORT\n\n"
      "Exit status: 0 after quit, SIGTERM, SIGINT or end of stdin; 1 if the cluster, control port "
      "or bootstrap file could not be set up; 2 (or CLI11's >= 100) for bad flags.\n"
      "Limits of the mock cluster (retention ~5 MiB or 100k batches per partition, no "
      "compaction, no transaction isolation): docs/embedded-broker.md");
  CLI11_PARSE(app, argc, argv);

  options.cluster.topics = sb::broker::SplitList(topics, ',');
  if (control_port >= 0) options.control_port = control_port;
  sb::broker::EmbeddedBroker broker(std::move(options), STDIN_FILENO, stdout, stderr);
  return broker.Run();
}
