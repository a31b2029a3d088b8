from connectpsp.cli import main

main()
