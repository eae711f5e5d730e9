# sb_recording_reviews: the review (QA) workflow of sb-recording -- ReviewIntake (routing events
# and policy decisions -> interactions, agents, review tasks), ReviewServiceImpl and
# FeedbackServiceImpl (gRPC), principal mapping. Included by this directory's CMakeLists.txt.
# See docs/reviews.md.
set(_sb_reviews_dir ${CMAKE_CURRENT_LIST_DIR})
add_library(sb_recording_reviews
  ${_sb_reviews_dir}/principal.cc
  ${_sb_reviews_dir}/review_records.cc
  ${_sb_reviews_dir}/review_intake.cc
  ${_sb_reviews_dir}/review_service.cc
  ${_sb_reviews_dir}/feedback_service.cc)
target_include_directories(sb_recording_reviews PUBLIC ${_sb_reviews_dir}/../..)
target_link_libraries(sb_recording_reviews
  PUBLIC sb_recording_grpc sb_recording_storage sb_recording_core sb_routing_proto sb_policy_proto
         gRPC::grpc++ absl::status absl::statusor
  PRIVATE absl::strings sb_warnings)

sb_add_test(NAME sb_recording_reviews_test LABEL unit
  SOURCES ${_sb_reviews_dir}/review_service_test.cc
  DEPS sb_recording_reviews absl::strings)
