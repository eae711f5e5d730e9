#include "recording/service/app.h"

int main(int argc, char** argv) { return sb::recording::RunRecordingApp(argc, argv); }
