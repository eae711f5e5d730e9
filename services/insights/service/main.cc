#include "insights/service/app.h"

int main(int argc, char** argv) { return sb::insights::service::RunInsightsApp(argc, argv); }
