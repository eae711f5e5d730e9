#include "policy/service/app.h"

int main(int argc, char** argv) { return sb::policy::RunPolicyApp(argc, argv); }
